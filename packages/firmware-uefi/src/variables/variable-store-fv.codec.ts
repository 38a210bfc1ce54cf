import { FormatError, readGuid, writeGuid, type NvramState, type NvVariable } from '@efikdump/core';
import { FIRST_RECORD_OFFSET, FTW_AREA_BYTES, FV_HEADER_BYTES, STORE_HEADER_BYTES, headerSizeOf } from './variable-store';
import { decodeUcs2, encodeUcs2, HEADER_ALIGNMENT, VARIABLE_DATA } from './well-known';

// EFI_FIRMWARE_VOLUME_HEADER (edk2 MdePkg/Include/Pi/PiFirmwareVolume.h), VARIABLE_STORE_HEADER and
// (AUTHENTICATED_)VARIABLE_HEADER (MdeModulePkg/Include/Guid/VariableFormat.h), the FTW working block
// header (MdeModulePkg/Include/Guid/SystemNvDataGuid.h): the layout of OVMF_VARS.fd.
export const EFI_SYSTEM_NV_DATA_FV_GUID = 'fff12b8d-7696-4c8b-a985-2747075b4f50';
export const EFI_VARIABLE_GUID = 'ddcf3616-3275-4164-98b6-fe85707ffe7d';
export const EFI_AUTHENTICATED_VARIABLE_GUID = 'aaf32c78-947b-439a-a180-2e144ec37792';
export const EDKII_WORKING_BLOCK_SIGNATURE_GUID = '9e58292b-7c68-497d-a0ce-6500fd9f1b95';
export const EFI_FVH_SIGNATURE = '_FVH';
export const EFI_FVH_REVISION = 2;
/** The FVB attributes OVMF's variable volume carries (read/write enabled and status, erase polarity 1, alignment 16). */
export const OVMF_VARS_FVB_ATTRIBUTES = 0x0004feff;
export const VARIABLE_STORE_FORMATTED = 0x5a;
export const VARIABLE_STORE_HEALTHY = 0xfe;
const FTW_HEADER_BYTES = 32;
/** Offset of the FTW working block inside the volume: after the store and OVMF's 4 KiB event-log area. */
const ftwWorkingOffset = (nvramBytes: number) => nvramBytes + 0x1000;

/** What a variable-store volume holds. */
export interface VariableStoreVolume {
  format: NvramState['format'];
  /** Bytes of the store region, the volume header included (VARIABLE_STORE_HEADER.Size + HeaderLength). */
  nvramBytes: number;
  blockBytes: number;
  /** Every record in flash order, deleted and half-written ones included. */
  records: NvVariable[];
}

/** Bytes of the whole volume: store, event log, FTW working block, and an FTW spare as large as all three (OVMF's layout). */
export const volumeBytes = (nvramBytes: number): number => 2 * (nvramBytes + FTW_AREA_BYTES);

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE 802.3), as edk2's CalculateCrc32. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function checksum16(bytes: Uint8Array): number {
  let s = 0;
  for (let i = 0; i + 1 < bytes.length; i += 2) s = (s + (bytes[i] | (bytes[i + 1] << 8))) & 0xffff;
  return s;
}

const align = (n: number) => Math.ceil(n / HEADER_ALIGNMENT) * HEADER_ALIGNMENT;

/** Encodes a store as an edk2 variable firmware volume: erased bytes are 0xff, as on flash. */
export function encodeVariableStoreFv(v: VariableStoreVolume): Uint8Array {
  const { nvramBytes, blockBytes } = v;
  const length = volumeBytes(nvramBytes);
  if (nvramBytes % blockBytes || length % blockBytes)
    throw new FormatError('variable store size', `a multiple of the ${blockBytes}-byte block`, String(nvramBytes));
  const out = new Uint8Array(length).fill(0xff);
  const dv = new DataView(out.buffer);
  // EFI_FIRMWARE_VOLUME_HEADER with a two-entry block map ({n, blockBytes}, {0, 0}): 0x48 bytes.
  out.fill(0, 0, FV_HEADER_BYTES);
  writeGuid(out, 16, EFI_SYSTEM_NV_DATA_FV_GUID);
  dv.setBigUint64(32, BigInt(length), true);
  for (let i = 0; i < 4; i++) out[40 + i] = EFI_FVH_SIGNATURE.charCodeAt(i);
  dv.setUint32(44, OVMF_VARS_FVB_ATTRIBUTES, true);
  dv.setUint16(48, FV_HEADER_BYTES, true);
  out[55] = EFI_FVH_REVISION;
  dv.setUint32(56, length / blockBytes, true);
  dv.setUint32(60, blockBytes, true);
  dv.setUint16(50, (0x10000 - checksum16(out.subarray(0, FV_HEADER_BYTES))) & 0xffff, true);
  // VARIABLE_STORE_HEADER.
  const s = FV_HEADER_BYTES;
  writeGuid(out, s, v.format === 'authenticated' ? EFI_AUTHENTICATED_VARIABLE_GUID : EFI_VARIABLE_GUID);
  dv.setUint32(s + 16, nvramBytes - FV_HEADER_BYTES, true);
  out[s + 20] = VARIABLE_STORE_FORMATTED;
  out[s + 21] = VARIABLE_STORE_HEALTHY;
  out.fill(0, s + 22, s + STORE_HEADER_BYTES);
  // Records.
  const auth = v.format === 'authenticated';
  const hdr = headerSizeOf(v.format);
  let o = FIRST_RECORD_OFFSET;
  for (const r of v.records) {
    const name = encodeUcs2(r.name);
    const end = o + hdr + name.length + r.data.length;
    if (end > nvramBytes)
      throw new FormatError(
        'variable store',
        `records within ${nvramBytes - FIRST_RECORD_OFFSET} bytes`,
        `${end - FIRST_RECORD_OFFSET} bytes`,
      );
    dv.setUint16(o, VARIABLE_DATA, true);
    out[o + 2] = r.state;
    out[o + 3] = 0;
    dv.setUint32(o + 4, r.attributes, true);
    let f = o + 8;
    if (auth) {
      dv.setBigUint64(f, r.monotonicCount ?? 0n, true);
      out.set(r.timestamp ?? new Uint8Array(16), f + 8);
      dv.setUint32(f + 24, r.pubKeyIndex ?? 0, true);
      f += 28;
    }
    dv.setUint32(f, name.length, true);
    dv.setUint32(f + 4, r.data.length, true);
    writeGuid(out, f + 8, r.guid);
    out.set(name, o + hdr);
    out.set(r.data, o + hdr + name.length);
    o = align(end);
  }
  // FTW working block header: CRC over the header with Crc and the state byte still erased, then WorkingBlockValid = 0.
  const w = ftwWorkingOffset(nvramBytes);
  writeGuid(out, w, EDKII_WORKING_BLOCK_SIGNATURE_GUID);
  dv.setBigUint64(w + 24, BigInt(0x1000 - FTW_HEADER_BYTES), true);
  dv.setUint32(w + 16, crc32(out.subarray(w, w + FTW_HEADER_BYTES)), true);
  out[w + 20] = 0xfe;
  return out;
}

/**
 * Decodes an edk2 variable-store volume (OVMF_VARS.fd and ours), checking the volume signature,
 * GUID, header checksum, store signature and every record's length against the store.
 */
export function decodeVariableStoreFv(buf: Uint8Array, file?: string): VariableStoreVolume {
  const place = (offset: number) => ({ file, offset });
  if (buf.length < FV_HEADER_BYTES + STORE_HEADER_BYTES)
    throw new FormatError(
      'variable store volume',
      `at least ${FV_HEADER_BYTES + STORE_HEADER_BYTES} bytes`,
      `${buf.length} bytes`,
      place(0),
    );
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const sig = String.fromCharCode(...buf.subarray(40, 44));
  if (sig !== EFI_FVH_SIGNATURE) throw new FormatError('firmware volume signature', '"_FVH"', JSON.stringify(sig), place(40));
  const fsGuid = readGuid(buf, 16);
  if (fsGuid !== EFI_SYSTEM_NV_DATA_FV_GUID)
    throw new FormatError('firmware volume FileSystemGuid', EFI_SYSTEM_NV_DATA_FV_GUID, fsGuid, place(16));
  const fvLength = dv.getBigUint64(32, true);
  if (fvLength > BigInt(buf.length))
    throw new FormatError('firmware volume FvLength', `at most the file's ${buf.length} bytes`, String(fvLength), place(32));
  const headerLength = dv.getUint16(48, true);
  if (headerLength < FV_HEADER_BYTES || headerLength % 8 || headerLength + STORE_HEADER_BYTES > buf.length) {
    throw new FormatError(
      'firmware volume HeaderLength',
      `${FV_HEADER_BYTES} or more, a multiple of 8, inside the file`,
      String(headerLength),
      place(48),
    );
  }
  const sum = checksum16(buf.subarray(0, headerLength));
  if (sum !== 0) throw new FormatError('firmware volume header checksum', '16-bit words summing to 0', `0x${sum.toString(16)}`, place(50));
  const blockBytes = dv.getUint32(60, true);
  const s = headerLength;
  const storeGuid = readGuid(buf, s);
  const format = storeGuid === EFI_AUTHENTICATED_VARIABLE_GUID ? 'authenticated' : storeGuid === EFI_VARIABLE_GUID ? 'plain' : undefined;
  if (!format)
    throw new FormatError('variable store signature', `${EFI_VARIABLE_GUID} or ${EFI_AUTHENTICATED_VARIABLE_GUID}`, storeGuid, place(s));
  const size = dv.getUint32(s + 16, true);
  if (size < STORE_HEADER_BYTES || s + size > Number(fvLength))
    throw new FormatError('VARIABLE_STORE_HEADER.Size', `${STORE_HEADER_BYTES} to ${Number(fvLength) - s}`, String(size), place(s + 16));
  if (buf[s + 20] !== VARIABLE_STORE_FORMATTED || buf[s + 21] !== VARIABLE_STORE_HEALTHY) {
    throw new FormatError(
      'variable store Format/State',
      '0x5a/0xfe (formatted, healthy)',
      `0x${buf[s + 20].toString(16)}/0x${buf[s + 21].toString(16)}`,
      place(s + 20),
    );
  }
  const storeEnd = s + size;
  const hdr = headerSizeOf(format);
  const records: NvVariable[] = [];
  let o = s + STORE_HEADER_BYTES;
  while (o + hdr <= storeEnd && dv.getUint16(o, true) === VARIABLE_DATA) {
    const state = buf[o + 2];
    const attributes = dv.getUint32(o + 4, true);
    let f = o + 8;
    const record: Partial<NvVariable> = { state, attributes };
    if (format === 'authenticated') {
      record.monotonicCount = dv.getBigUint64(f, true);
      record.timestamp = buf.slice(f + 8, f + 24);
      record.pubKeyIndex = dv.getUint32(f + 24, true);
      f += 28;
    }
    const nameBytes = dv.getUint32(f, true);
    const dataBytes = dv.getUint32(f + 4, true);
    if (nameBytes < 2 || nameBytes % 2 || o + hdr + nameBytes + dataBytes > storeEnd) {
      throw new FormatError(
        'variable record',
        `a name and data inside the store (NameSize ${nameBytes}, DataSize ${dataBytes})`,
        `${storeEnd - o - hdr} bytes left`,
        place(f),
      );
    }
    record.guid = readGuid(buf, f + 8);
    const name = decodeUcs2(buf.subarray(o + hdr, o + hdr + nameBytes), 'variable name');
    if (name.bytes !== nameBytes)
      throw new FormatError('variable name', `NUL as the last of ${nameBytes} bytes`, `NUL at byte ${name.bytes - 2}`, place(o + hdr));
    record.name = name.text;
    record.data = buf.slice(o + hdr + nameBytes, o + hdr + nameBytes + dataBytes);
    records.push(record as NvVariable);
    o = align(o + hdr + nameBytes + dataBytes);
  }
  return { format, nvramBytes: storeEnd, blockBytes, records };
}
