import { FormatError } from '../errors';
import { readAsciiField, readGuid, writeAsciiField, writeGuid } from './cper';
import type { Place } from './elf';

const at = (place: Place, off: number) => ({ file: place.file, offset: (place.base ?? 0) + off });
const viewOf = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

function need(buf: Uint8Array, off: number, size: number, what: string, place: Place): void {
  if (off < 0 || off + size > buf.length) {
    throw new FormatError(what, `${size} bytes`, `${Math.max(0, buf.length - off)} bytes before the end`, at(place, off));
  }
}

/** Sum of the bytes mod 256: zero for a table with a valid checksum. */
export function acpiByteSum(bytes: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < bytes.length; i++) s = (s + bytes[i]) & 0xff;
  return s;
}

// System Description Table header (ACPI 6.5 §5.2.6; domain reference §6.1).
export const SDT_HEADER_SIZE = 36;

export interface SdtHeader {
  /** Four ASCII characters. */
  signature: string;
  revision: number;
  /** Up to 6 ASCII characters. */
  oemId: string;
  /** Up to 8 ASCII characters. */
  oemTableId: string;
  oemRevision: number;
  /** Four ASCII characters (ASL compiler vendor ID). */
  creatorId: string;
  creatorRevision: number;
}

export interface SdtTable {
  header: SdtHeader;
  body: Uint8Array;
}

const SIGNATURE = /^[\x20-\x7e]{4}$/;

/** Encodes header + body with Length and Checksum filled in (all bytes sum to 0 mod 256). */
export function encodeSdt(t: SdtTable): Uint8Array {
  const h = t.header;
  if (!SIGNATURE.test(h.signature))
    throw new FormatError('ACPI table signature', '4 printable ASCII characters', JSON.stringify(h.signature));
  if (!SIGNATURE.test(h.creatorId)) throw new FormatError('ACPI Creator ID', '4 printable ASCII characters', JSON.stringify(h.creatorId));
  const out = new Uint8Array(SDT_HEADER_SIZE + t.body.length);
  const v = viewOf(out);
  writeAsciiField(out, 0, 4, h.signature, 'ACPI table signature');
  v.setUint32(4, out.length, true);
  out[8] = h.revision;
  writeAsciiField(out, 10, 6, h.oemId, 'ACPI OEM ID');
  writeAsciiField(out, 16, 8, h.oemTableId, 'ACPI OEM Table ID');
  v.setUint32(24, h.oemRevision, true);
  writeAsciiField(out, 28, 4, h.creatorId, 'ACPI Creator ID');
  v.setUint32(32, h.creatorRevision, true);
  out.set(t.body, SDT_HEADER_SIZE);
  out[9] = (256 - acpiByteSum(out)) & 0xff;
  return out;
}

/** Decodes a table, checking the header fits, Length fits the buffer, and the checksum. */
export function decodeSdt(buf: Uint8Array, place: Place = {}, expectSignature?: string): SdtTable {
  need(buf, 0, SDT_HEADER_SIZE, 'ACPI table header', place);
  const v = viewOf(buf);
  const signature = String.fromCharCode(...buf.subarray(0, 4));
  if (!SIGNATURE.test(signature))
    throw new FormatError('ACPI table signature', '4 printable ASCII characters', JSON.stringify(signature), at(place, 0));
  if (expectSignature !== undefined && signature !== expectSignature) {
    throw new FormatError('ACPI table signature', JSON.stringify(expectSignature), JSON.stringify(signature), at(place, 0));
  }
  const length = v.getUint32(4, true);
  if (length < SDT_HEADER_SIZE) throw new FormatError(`${signature} Length`, `at least ${SDT_HEADER_SIZE}`, String(length), at(place, 4));
  if (length > buf.length) throw new FormatError(`${signature} table`, `${length} bytes (Length)`, `${buf.length} bytes`, at(place, 4));
  const table = buf.subarray(0, length);
  const sum = acpiByteSum(table);
  if (sum !== 0) throw new FormatError(`${signature} checksum`, 'bytes summing to 0 mod 256', `sum 0x${sum.toString(16)}`, at(place, 9));
  const creatorId = String.fromCharCode(...buf.subarray(28, 32));
  if (!SIGNATURE.test(creatorId))
    throw new FormatError(`${signature} Creator ID`, '4 printable ASCII characters', JSON.stringify(creatorId), at(place, 28));
  return {
    header: {
      signature,
      revision: buf[8],
      oemId: readAsciiField(buf, 10, 6),
      oemTableId: readAsciiField(buf, 16, 8),
      oemRevision: v.getUint32(24, true),
      creatorId,
      creatorRevision: v.getUint32(32, true),
    },
    body: buf.slice(SDT_HEADER_SIZE, length),
  };
}

// RSDP, revision 2 (ACPI 6.5 §5.2.5.3).
export const RSDP_SIGNATURE = 'RSD PTR ';
export const RSDP_SIZE = 36;
export const RSDP_V1_SIZE = 20;

export interface Rsdp {
  oemId: string;
  revision: number;
  rsdtAddress: number;
  xsdtAddress: bigint;
}

export function encodeRsdp(r: Rsdp): Uint8Array {
  const out = new Uint8Array(RSDP_SIZE);
  const v = viewOf(out);
  writeAsciiField(out, 0, 8, RSDP_SIGNATURE, 'RSDP signature');
  writeAsciiField(out, 9, 6, r.oemId, 'RSDP OEM ID');
  out[15] = r.revision;
  v.setUint32(16, r.rsdtAddress, true);
  v.setUint32(20, RSDP_SIZE, true);
  v.setBigUint64(24, r.xsdtAddress, true);
  out[8] = (256 - acpiByteSum(out.subarray(0, RSDP_V1_SIZE))) & 0xff;
  out[32] = (256 - acpiByteSum(out)) & 0xff;
  return out;
}

export function decodeRsdp(buf: Uint8Array, place: Place = {}): Rsdp {
  need(buf, 0, RSDP_SIZE, 'RSDP', place);
  const sig = String.fromCharCode(...buf.subarray(0, 8));
  if (sig !== RSDP_SIGNATURE) throw new FormatError('RSDP signature', JSON.stringify(RSDP_SIGNATURE), JSON.stringify(sig), at(place, 0));
  const v = viewOf(buf);
  const revision = buf[15];
  if (revision < 2) throw new FormatError('RSDP Revision', 'at least 2 (ACPI 2.0+, with an XSDT)', String(revision), at(place, 15));
  const length = v.getUint32(20, true);
  if (length < RSDP_SIZE || length > buf.length)
    throw new FormatError('RSDP Length', `${RSDP_SIZE} to ${buf.length}`, String(length), at(place, 20));
  if (acpiByteSum(buf.subarray(0, RSDP_V1_SIZE)) !== 0)
    throw new FormatError(
      'RSDP checksum',
      'first 20 bytes summing to 0',
      `sum 0x${acpiByteSum(buf.subarray(0, RSDP_V1_SIZE)).toString(16)}`,
      at(place, 8),
    );
  if (acpiByteSum(buf.subarray(0, length)) !== 0)
    throw new FormatError(
      'RSDP extended checksum',
      `${length} bytes summing to 0`,
      `sum 0x${acpiByteSum(buf.subarray(0, length)).toString(16)}`,
      at(place, 32),
    );
  return { oemId: readAsciiField(buf, 9, 6), revision, rsdtAddress: v.getUint32(16, true), xsdtAddress: v.getBigUint64(24, true) };
}

// XSDT (ACPI 6.5 §5.2.8): the header, then 64-bit physical addresses of the other tables.
export function encodeXsdtBody(entries: readonly bigint[]): Uint8Array {
  const out = new Uint8Array(entries.length * 8);
  const v = viewOf(out);
  entries.forEach((e, i) => v.setBigUint64(i * 8, e, true));
  return out;
}

export function decodeXsdtBody(body: Uint8Array, place: Place = {}): bigint[] {
  if (body.length % 8) throw new FormatError('XSDT entries', 'a multiple of 8 bytes', `${body.length} bytes`, at(place, SDT_HEADER_SIZE));
  const v = viewOf(body);
  return Array.from({ length: body.length / 8 }, (_, i) => v.getBigUint64(i * 8, true));
}

// Generic Address Structure (ACPI 6.5 §5.2.3.2).
export const GAS_SIZE = 12;
export const AcpiAddressSpace = { SystemMemory: 0, SystemIo: 1 } as const;
/** Access size: 1 byte, 2 word, 3 dword, 4 qword. */
export interface GenericAddress {
  spaceId: number;
  bitWidth: number;
  bitOffset: number;
  accessSize: number;
  address: bigint;
}

export function writeGas(out: Uint8Array, off: number, g: GenericAddress): void {
  out[off] = g.spaceId;
  out[off + 1] = g.bitWidth;
  out[off + 2] = g.bitOffset;
  out[off + 3] = g.accessSize;
  viewOf(out).setBigUint64(off + 4, g.address, true);
}

export function readGas(buf: Uint8Array, off: number): GenericAddress {
  return {
    spaceId: buf[off],
    bitWidth: buf[off + 1],
    bitOffset: buf[off + 2],
    accessSize: buf[off + 3],
    address: viewOf(buf).getBigUint64(off + 4, true),
  };
}

// BERT (ACPI 6.5 §18.3.1; domain reference §6.3): BootErrorRegionLength u32 @36, BootErrorRegion u64 @40.
export const BERT_BODY_SIZE = 12;
export interface BertBody {
  regionLength: number;
  regionAddress: bigint;
}

export function encodeBertBody(b: BertBody): Uint8Array {
  const out = new Uint8Array(BERT_BODY_SIZE);
  const v = viewOf(out);
  v.setUint32(0, b.regionLength, true);
  v.setBigUint64(4, b.regionAddress, true);
  return out;
}

export function decodeBertBody(body: Uint8Array, place: Place = {}): BertBody {
  if (body.length !== BERT_BODY_SIZE)
    throw new FormatError('BERT body', `${BERT_BODY_SIZE} bytes`, `${body.length} bytes`, at(place, SDT_HEADER_SIZE));
  const v = viewOf(body);
  return { regionLength: v.getUint32(0, true), regionAddress: v.getBigUint64(4, true) };
}

// ERST (ACPI 6.5 §18.5; domain reference §6.2): SerializationHeaderSize u32, reserved u32,
// InstructionEntryCount u32, then 32-byte serialization instruction entries.
export const ERST_BODY_HEADER_SIZE = 12;
export const ERST_ENTRY_SIZE = 32;

export const ErstAction = {
  BeginWrite: 0x0,
  BeginRead: 0x1,
  BeginClear: 0x2,
  End: 0x3,
  SetRecordOffset: 0x4,
  ExecuteOperation: 0x5,
  CheckBusyStatus: 0x6,
  GetCommandStatus: 0x7,
  GetRecordIdentifier: 0x8,
  SetRecordIdentifier: 0x9,
  GetRecordCount: 0xa,
  BeginDummyWrite: 0xb,
  GetErrorLogAddressRange: 0xd,
  GetErrorLogAddressRangeLength: 0xe,
  GetErrorLogAddressRangeAttributes: 0xf,
  GetExecuteOperationTimings: 0x10,
} as const;

export const ErstInstruction = {
  ReadRegister: 0x00,
  ReadRegisterValue: 0x01,
  WriteRegister: 0x02,
  WriteRegisterValue: 0x03,
  Noop: 0x04,
  LoadVar1: 0x05,
  LoadVar2: 0x06,
  StoreVar1: 0x07,
  Add: 0x08,
  Subtract: 0x09,
  AddValue: 0x0a,
  SubtractValue: 0x0b,
  Stall: 0x0c,
  StallWhileTrue: 0x0d,
  SkipNextIfTrue: 0x0e,
  Goto: 0x0f,
  SetSrcAddressBase: 0x10,
  SetDstAddressBase: 0x11,
  MoveData: 0x12,
} as const;

/** ERST command status values (domain reference §6.2). */
export const ErstStatus = {
  Success: 0,
  NotEnoughSpace: 1,
  HardwareNotAvailable: 2,
  Failed: 3,
  RecordStoreEmpty: 4,
  RecordNotFound: 5,
} as const;
/** Record identifier meaning "no record". */
export const ERST_NO_RECORD_ID = 0xffffffffffffffffn;

export interface ErstEntry {
  action: number;
  instruction: number;
  flags: number;
  register: GenericAddress;
  value: bigint;
  mask: bigint;
}

export interface ErstBody {
  serializationHeaderSize: number;
  entries: ErstEntry[];
}

export function encodeErstBody(b: ErstBody): Uint8Array {
  const out = new Uint8Array(ERST_BODY_HEADER_SIZE + b.entries.length * ERST_ENTRY_SIZE);
  const v = viewOf(out);
  v.setUint32(0, b.serializationHeaderSize, true);
  v.setUint32(8, b.entries.length, true);
  b.entries.forEach((e, i) => {
    const o = ERST_BODY_HEADER_SIZE + i * ERST_ENTRY_SIZE;
    out[o] = e.action;
    out[o + 1] = e.instruction;
    out[o + 2] = e.flags;
    writeGas(out, o + 4, e.register);
    v.setBigUint64(o + 16, e.value, true);
    v.setBigUint64(o + 24, e.mask, true);
  });
  return out;
}

export function decodeErstBody(body: Uint8Array, place: Place = {}): ErstBody {
  need(body, 0, ERST_BODY_HEADER_SIZE, 'ERST header', { ...place, base: (place.base ?? 0) + SDT_HEADER_SIZE });
  const v = viewOf(body);
  const count = v.getUint32(8, true);
  const want = ERST_BODY_HEADER_SIZE + count * ERST_ENTRY_SIZE;
  if (body.length !== want) {
    throw new FormatError(
      'ERST instruction entries',
      `${want - ERST_BODY_HEADER_SIZE} bytes for ${count} entries`,
      `${body.length - ERST_BODY_HEADER_SIZE} bytes`,
      at(place, SDT_HEADER_SIZE + 8),
    );
  }
  const entries: ErstEntry[] = [];
  for (let i = 0; i < count; i++) {
    const o = ERST_BODY_HEADER_SIZE + i * ERST_ENTRY_SIZE;
    entries.push({
      action: body[o],
      instruction: body[o + 1],
      flags: body[o + 2],
      register: readGas(body, o + 4),
      value: v.getBigUint64(o + 16, true),
      mask: v.getBigUint64(o + 24, true),
    });
  }
  return { serializationHeaderSize: v.getUint32(0, true), entries };
}

// SPCR, revision 2 (Microsoft "Serial Port Console Redirection Table"): the serial console firmware used.
export const SPCR_BODY_SIZE = 44;
export interface SpcrBody {
  /** 0 = full 16550. */
  interfaceType: number;
  baseAddress: GenericAddress;
  /** Bit 0 = dual-8259 IRQ. */
  interruptType: number;
  irq: number;
  globalSystemInterrupt: number;
  /** 7 = 115200. */
  baudRate: number;
  parity: number;
  stopBits: number;
  flowControl: number;
  terminalType: number;
  pciDeviceId: number;
  pciVendorId: number;
}

export function encodeSpcrBody(s: SpcrBody): Uint8Array {
  const out = new Uint8Array(SPCR_BODY_SIZE);
  const v = viewOf(out);
  out[0] = s.interfaceType;
  writeGas(out, 4, s.baseAddress);
  out[16] = s.interruptType;
  out[17] = s.irq;
  v.setUint32(18, s.globalSystemInterrupt, true);
  out[22] = s.baudRate;
  out[23] = s.parity;
  out[24] = s.stopBits;
  out[25] = s.flowControl;
  out[26] = s.terminalType;
  v.setUint16(28, s.pciDeviceId, true);
  v.setUint16(30, s.pciVendorId, true);
  return out;
}

export function decodeSpcrBody(body: Uint8Array, place: Place = {}): SpcrBody {
  if (body.length < SPCR_BODY_SIZE)
    throw new FormatError('SPCR body', `${SPCR_BODY_SIZE} bytes`, `${body.length} bytes`, at(place, SDT_HEADER_SIZE));
  const v = viewOf(body);
  return {
    interfaceType: body[0],
    baseAddress: readGas(body, 4),
    interruptType: body[16],
    irq: body[17],
    globalSystemInterrupt: v.getUint32(18, true),
    baudRate: body[22],
    parity: body[23],
    stopBits: body[24],
    flowControl: body[25],
    terminalType: body[26],
    pciDeviceId: v.getUint16(28, true),
    pciVendorId: v.getUint16(30, true),
  };
}

// Generic Error Status Block and Generic Error Data Entry (ACPI 6.5 §18.3.2.7.1-2; domain reference §6.3):
// the content of the BERT boot error region.
export const GENERIC_ERROR_STATUS_SIZE = 20;
export const GENERIC_ERROR_DATA_ENTRY_SIZE_V300 = 72;
export const GENERIC_ERROR_DATA_ENTRY_SIZE_V2 = 64;
export const GENERIC_ERROR_DATA_REVISION = 0x300;
/** BlockStatus bits. */
export const BLOCK_STATUS_UNCORRECTABLE = 0x1;
export const BLOCK_STATUS_CORRECTABLE = 0x2;
export const BLOCK_STATUS_MULTIPLE_UNCORRECTABLE = 0x4;
export const BLOCK_STATUS_MULTIPLE_CORRECTABLE = 0x8;

export interface GenericErrorDataEntry {
  sectionType: string;
  severity: number;
  /** 0x300 carries a timestamp (72-byte entry); lower revisions have 64-byte entries. */
  revision: number;
  validationBits: number;
  flags: number;
  fruId: string;
  fruText: string;
  timestamp: bigint;
  data: Uint8Array;
}

export interface GenericErrorStatusBlock {
  blockStatus: number;
  errorSeverity: number;
  rawData: Uint8Array;
  entries: GenericErrorDataEntry[];
}

const entryHeaderSize = (revision: number) =>
  revision >= GENERIC_ERROR_DATA_REVISION ? GENERIC_ERROR_DATA_ENTRY_SIZE_V300 : GENERIC_ERROR_DATA_ENTRY_SIZE_V2;

/** BlockStatus for a block of `entries`: valid bits from their severities, count in bits 4-13. */
export function genericErrorBlockStatus(entries: readonly { severity: number }[]): number {
  const uncorrectable = entries.filter((e) => e.severity === 0 || e.severity === 1).length;
  const correctable = entries.filter((e) => e.severity === 2).length;
  return (
    (uncorrectable ? BLOCK_STATUS_UNCORRECTABLE : 0) |
    (correctable ? BLOCK_STATUS_CORRECTABLE : 0) |
    (uncorrectable > 1 ? BLOCK_STATUS_MULTIPLE_UNCORRECTABLE : 0) |
    (correctable > 1 ? BLOCK_STATUS_MULTIPLE_CORRECTABLE : 0) |
    ((Math.min(entries.length, 0x3ff) & 0x3ff) << 4)
  );
}

export function genericErrorStatusBlockLength(b: Pick<GenericErrorStatusBlock, 'entries' | 'rawData'>): number {
  return GENERIC_ERROR_STATUS_SIZE + b.entries.reduce((s, e) => s + entryHeaderSize(e.revision) + e.data.length, 0) + b.rawData.length;
}

export function encodeGenericErrorStatusBlock(b: GenericErrorStatusBlock): Uint8Array {
  const out = new Uint8Array(genericErrorStatusBlockLength(b));
  const v = viewOf(out);
  const dataLength = out.length - GENERIC_ERROR_STATUS_SIZE - b.rawData.length;
  v.setUint32(0, b.blockStatus, true);
  v.setUint32(4, b.rawData.length ? GENERIC_ERROR_STATUS_SIZE + dataLength : 0, true);
  v.setUint32(8, b.rawData.length, true);
  v.setUint32(12, dataLength, true);
  v.setUint32(16, b.errorSeverity, true);
  let o = GENERIC_ERROR_STATUS_SIZE;
  for (const e of b.entries) {
    writeGuid(out, o, e.sectionType);
    v.setUint32(o + 16, e.severity, true);
    v.setUint16(o + 20, e.revision, true);
    out[o + 22] = e.validationBits;
    out[o + 23] = e.flags;
    v.setUint32(o + 24, e.data.length, true);
    writeGuid(out, o + 28, e.fruId);
    writeAsciiField(out, o + 44, 20, e.fruText, 'generic error FRU text');
    if (e.revision >= GENERIC_ERROR_DATA_REVISION) v.setBigUint64(o + 64, e.timestamp, true);
    o += entryHeaderSize(e.revision);
    out.set(e.data, o);
    o += e.data.length;
  }
  out.set(b.rawData, o);
  return out;
}

/** Decodes a Generic Error Status Block, checking DataLength and each entry's length against the buffer. */
export function decodeGenericErrorStatusBlock(buf: Uint8Array, place: Place = {}): GenericErrorStatusBlock {
  need(buf, 0, GENERIC_ERROR_STATUS_SIZE, 'Generic Error Status Block', place);
  const v = viewOf(buf);
  const blockStatus = v.getUint32(0, true);
  const rawOffset = v.getUint32(4, true);
  const rawLength = v.getUint32(8, true);
  const dataLength = v.getUint32(12, true);
  if (GENERIC_ERROR_STATUS_SIZE + dataLength > buf.length) {
    throw new FormatError(
      'Generic Error Status Block DataLength',
      `at most ${buf.length - GENERIC_ERROR_STATUS_SIZE}`,
      String(dataLength),
      at(place, 12),
    );
  }
  if (rawLength && (rawOffset < GENERIC_ERROR_STATUS_SIZE + dataLength || rawOffset + rawLength > buf.length)) {
    throw new FormatError(
      'Generic Error Status Block raw data',
      `inside the block after the entries`,
      `[${rawOffset}, ${rawOffset + rawLength})`,
      at(place, 4),
    );
  }
  const entries: GenericErrorDataEntry[] = [];
  const end = GENERIC_ERROR_STATUS_SIZE + dataLength;
  let o = GENERIC_ERROR_STATUS_SIZE;
  while (o < end) {
    need(buf.subarray(0, end), o, GENERIC_ERROR_DATA_ENTRY_SIZE_V2, 'Generic Error Data Entry', place);
    const revision = v.getUint16(o + 20, true);
    const size = entryHeaderSize(revision);
    need(buf.subarray(0, end), o, size, 'Generic Error Data Entry', place);
    const length = v.getUint32(o + 24, true);
    if (o + size + length > end)
      throw new FormatError('Generic Error Data Entry ErrorDataLength', `at most ${end - o - size}`, String(length), at(place, o + 24));
    entries.push({
      sectionType: readGuid(buf, o),
      severity: v.getUint32(o + 16, true),
      revision,
      validationBits: buf[o + 22],
      flags: buf[o + 23],
      fruId: readGuid(buf, o + 28),
      fruText: readAsciiField(buf, o + 44, 20),
      timestamp: revision >= GENERIC_ERROR_DATA_REVISION ? v.getBigUint64(o + 64, true) : 0n,
      data: buf.slice(o + size, o + size + length),
    });
    o += size + length;
  }
  return { blockStatus, errorSeverity: v.getUint32(16, true), rawData: buf.slice(rawOffset, rawOffset + rawLength), entries };
}

/** The GUID that identifies the ACPI 2.0+ RSDP in the EFI configuration table (domain reference §6.1). */
export const EFI_ACPI_20_TABLE_GUID = '8868e871-e4f1-11d3-bc22-0080c73c8881';
