import { crc32 } from 'node:zlib';
import { FormatError, hex, toSafeNumber, type HandoffInfo, type PhysRange } from '@efikdump/core';

/*
 * The reserved-memory handoff record, version 1 (our format; little-endian):
 *   0  u8[8]  magic "EFIKDUMP"        40 u64 elfcorehdr physical address
 *   8  u16    version (1)             48 u64 elfcorehdr size in bytes
 *  10  u16    header size (96)        56 u32 number of crashkernel ranges (1..16)
 *  12  u32    total length            60 u32 flags: bit 0 armed, bit 1 crashed
 *  16  u32    CRC-32 of the record with this field zero
 *  20  u32    CPU count               64 u8[32] SHA-256 of the elfcorehdr
 *  24  u64    boot nonce              96 ranges: { u64 start; u64 end } each
 *  32  i64    crash time (Unix seconds, 0 before the crash)
 */
export const RECORD_MAGIC = 'EFIKDUMP';
export const RECORD_VERSION = 1;
export const RECORD_HEADER_BYTES = 96;
export const RECORD_MAX_RANGES = 16;
export const RECORD_MAX_BYTES = RECORD_HEADER_BYTES + RECORD_MAX_RANGES * 16;
export const FLAG_ARMED = 1;
export const FLAG_CRASHED = 2;

export interface HandoffRecord {
  flags: number;
  info: HandoffInfo;
}

export function encodeHandoffRecord(record: HandoffRecord): Uint8Array {
  const { info } = record;
  if (info.crashkernel.length < 1 || info.crashkernel.length > RECORD_MAX_RANGES) {
    throw new FormatError('handoff record', `1 to ${RECORD_MAX_RANGES} crashkernel ranges`, String(info.crashkernel.length));
  }
  const length = RECORD_HEADER_BYTES + info.crashkernel.length * 16;
  const out = new Uint8Array(length);
  const v = new DataView(out.buffer);
  out.set(Buffer.from(RECORD_MAGIC, 'ascii'), 0);
  v.setUint16(8, RECORD_VERSION, true);
  v.setUint16(10, RECORD_HEADER_BYTES, true);
  v.setUint32(12, length, true);
  v.setUint32(20, info.cpus, true);
  v.setBigUint64(24, BigInt('0x' + info.bootNonce), true);
  v.setBigInt64(32, BigInt(info.crashTimeUnix), true);
  v.setBigUint64(40, BigInt(info.elfcorehdr.paddr), true);
  v.setBigUint64(48, BigInt(info.elfcorehdr.size), true);
  v.setUint32(56, info.crashkernel.length, true);
  v.setUint32(60, record.flags, true);
  out.set(Buffer.from(info.elfcorehdr.sha256, 'hex'), 64);
  info.crashkernel.forEach((r, i) => {
    v.setBigUint64(RECORD_HEADER_BYTES + i * 16, BigInt(r.start), true);
    v.setBigUint64(RECORD_HEADER_BYTES + i * 16 + 8, BigInt(r.end), true);
  });
  v.setUint32(16, crc32(out), true);
  return out;
}

/**
 * Decodes a record from the bytes at its slot. Every length is checked against the buffer
 * before use; `base` is the slot's physical address, for error messages.
 */
export function decodeHandoffRecord(buf: Uint8Array, source: string, base = 0): HandoffRecord {
  const at = (off: number) => ({ file: source, offset: base + off });
  if (buf.length < RECORD_HEADER_BYTES) throw new FormatError('handoff record', `${RECORD_HEADER_BYTES} bytes`, `${buf.length}`, at(0));
  const magic = Buffer.from(buf.subarray(0, 8)).toString('latin1');
  if (magic !== RECORD_MAGIC) throw new FormatError('handoff record magic', `"${RECORD_MAGIC}"`, JSON.stringify(magic), at(0));
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const version = v.getUint16(8, true);
  if (version !== RECORD_VERSION) throw new FormatError('handoff record version', String(RECORD_VERSION), String(version), at(8));
  const headerBytes = v.getUint16(10, true);
  if (headerBytes !== RECORD_HEADER_BYTES) throw new FormatError('handoff record header size', String(RECORD_HEADER_BYTES), String(headerBytes), at(10));
  const count = v.getUint32(56, true);
  if (count < 1 || count > RECORD_MAX_RANGES) throw new FormatError('handoff record range count', `1 to ${RECORD_MAX_RANGES}`, String(count), at(56));
  const length = v.getUint32(12, true);
  if (length !== RECORD_HEADER_BYTES + count * 16 || length > buf.length) {
    throw new FormatError('handoff record length', `${RECORD_HEADER_BYTES + count * 16} (header + ${count} ranges) within ${buf.length} bytes`, String(length), at(12));
  }
  const stored = v.getUint32(16, true);
  // A private copy with the CRC field zeroed (a Buffer's slice would be a view of shared memory).
  const copy = new Uint8Array(buf.subarray(0, length));
  new DataView(copy.buffer, copy.byteOffset, copy.byteLength).setUint32(16, 0, true);
  const actual = crc32(copy);
  if (stored !== actual) throw new FormatError('handoff record CRC-32', hex(actual), hex(stored), at(16));
  const num = (off: number, what: string) => toSafeNumber(v.getBigUint64(off, true), what, at(off));
  const crashkernel: PhysRange[] = [];
  for (let i = 0; i < count; i++) {
    const off = RECORD_HEADER_BYTES + i * 16;
    const start = num(off, 'crashkernel range start');
    const end = num(off + 8, 'crashkernel range end');
    if (end <= start) throw new FormatError('crashkernel range', 'end above start', `${hex(start)}-${hex(end)}`, at(off));
    crashkernel.push({ start, end });
  }
  const crashTime = v.getBigInt64(32, true);
  return {
    flags: v.getUint32(60, true),
    info: {
      version,
      bootNonce: v.getBigUint64(24, true).toString(16).padStart(16, '0'),
      crashkernel,
      elfcorehdr: { paddr: num(40, 'elfcorehdr address'), size: num(48, 'elfcorehdr size'), sha256: Buffer.from(buf.subarray(64, 96)).toString('hex') },
      crashTimeUnix: Number(crashTime < 0n ? 0n : crashTime > BigInt(Number.MAX_SAFE_INTEGER) ? 0n : crashTime),
      cpus: v.getUint32(20, true),
    },
  };
}
