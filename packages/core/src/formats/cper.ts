import { FormatError } from '../errors';
import type { Place } from './elf';

// EFI_GUID: u32, u16, u16 little-endian, then 8 bytes in order (UEFI 2.10 Appendix A; domain reference conventions).
export const GUID_SIZE = 16;
const GUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const NULL_GUID = '00000000-0000-0000-0000-000000000000';

const at = (place: Place, off: number) => ({ file: place.file, offset: (place.base ?? 0) + off });

function need(buf: Uint8Array, off: number, size: number, what: string, place: Place): void {
  if (off < 0 || off + size > buf.length) {
    throw new FormatError(what, `${size} bytes`, `${Math.max(0, buf.length - off)} bytes before the end`, at(place, off));
  }
}

const viewOf = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** Lower-case canonical text of a GUID ("8be4df61-93ca-11d2-aa0d-00e098032b8c"); accepts any case, with or without braces. */
export function normalizeGuid(text: string): string {
  const t = text
    .trim()
    .replace(/^\{(.*)\}$/, '$1')
    .toLowerCase();
  if (!GUID_TEXT.test(t)) throw new FormatError('GUID', 'xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx', JSON.stringify(text));
  return t;
}

export function isGuid(text: string): boolean {
  return GUID_TEXT.test(text);
}

/** Writes `guid` (canonical text) as the 16-byte EFI_GUID at `off`. */
export function writeGuid(out: Uint8Array, off: number, guid: string): void {
  const g = normalizeGuid(guid);
  const v = viewOf(out);
  v.setUint32(off, parseInt(g.slice(0, 8), 16), true);
  v.setUint16(off + 4, parseInt(g.slice(9, 13), 16), true);
  v.setUint16(off + 6, parseInt(g.slice(14, 18), 16), true);
  const tail = g.slice(19, 23) + g.slice(24);
  for (let i = 0; i < 8; i++) out[off + 8 + i] = parseInt(tail.slice(2 * i, 2 * i + 2), 16);
}

export function encodeGuid(guid: string): Uint8Array {
  const out = new Uint8Array(GUID_SIZE);
  writeGuid(out, 0, guid);
  return out;
}

/** Reads the EFI_GUID at `off` as canonical lower-case text. */
export function readGuid(buf: Uint8Array, off: number, place: Place = {}): string {
  need(buf, off, GUID_SIZE, 'GUID', place);
  const v = viewOf(buf);
  const h = (n: number, w: number) => n.toString(16).padStart(w, '0');
  const tail = Array.from(buf.subarray(off + 8, off + 16), (b) => h(b, 2)).join('');
  return `${h(v.getUint32(off, true), 8)}-${h(v.getUint16(off + 4, true), 4)}-${h(v.getUint16(off + 6, true), 4)}-${tail.slice(0, 4)}-${tail.slice(4)}`;
}

/** Fixed-width ASCII field, NUL padded (CPER FRU text, ACPI OEM IDs). */
export function writeAsciiField(out: Uint8Array, off: number, width: number, text: string, what: string): void {
  // eslint-disable-next-line no-control-regex -- the field is ASCII, NUL included
  if (text.length > width || !/^[\x00-\x7f]*$/.test(text))
    throw new FormatError(what, `at most ${width} ASCII characters`, JSON.stringify(text));
  out.fill(0, off, off + width);
  for (let i = 0; i < text.length; i++) out[off + i] = text.charCodeAt(i);
}

/** Reads a fixed-width ASCII field up to its first NUL. */
export function readAsciiField(buf: Uint8Array, off: number, width: number): string {
  let s = '';
  for (let i = 0; i < width; i++) {
    const c = buf[off + i];
    if (c === 0) break;
    s += String.fromCharCode(c);
  }
  return s;
}

// CPER record header and section descriptor (UEFI 2.10 Appendix N.2.1, N.2.2; edk2 MdePkg/Include/Guid/Cper.h, packed).
export const CPER_SIGNATURE = 'CPER';
export const CPER_SIGNATURE_END = 0xffffffff;
export const CPER_HEADER_SIZE = 128;
export const CPER_SECTION_DESCRIPTOR_SIZE = 72;
/** Record revision edk2 writes (EFI_ERROR_RECORD_REVISION). */
export const CPER_RECORD_REVISION = 0x0101;
/** Section descriptor revision (EFI_ERROR_SECTION_REVISION). */
export const CPER_SECTION_REVISION = 0x0100;

export const CperSeverity = { Recoverable: 0, Fatal: 1, Corrected: 2, Informational: 3 } as const;
/** Record header ValidationBits. */
export const CPER_VALID_PLATFORM_ID = 0x1;
export const CPER_VALID_TIMESTAMP = 0x2;
export const CPER_VALID_PARTITION_ID = 0x4;
/** Record header Flags. */
export const CPER_FLAG_RECOVERED = 0x1;
export const CPER_FLAG_PREVERR = 0x2;
export const CPER_FLAG_SIMULATED = 0x4;
/** Section descriptor Flags bit 0. */
export const CPER_SECTION_FLAG_PRIMARY = 0x1;

/** Creator, notification and section-type GUIDs used by Linux (include/linux/cper.h) and the domain reference §6.2. */
export const CPER_GUIDS = {
  creatorLinuxPstore: '75a574e3-5052-4b29-8a8e-be2c6490b89d',
  notifyMce: 'e8f56ffe-919c-4cc5-ba88-65abe14913bb',
  notifyBoot: '3d61a466-ab40-409a-a698-f362d464b38f',
  sectionDmesg: 'c197e04e-d545-4a70-9c17-a5549419eb12',
  sectionDmesgZ: '4f118707-04dd-4055-b5dd-956d34ddfac6',
  sectionMce: 'fe08ffbe-95e4-4be7-bc73-4096044a38fc',
} as const;

export interface CperSection {
  revision: number;
  validationBits: number;
  flags: number;
  sectionType: string;
  fruId: string;
  severity: number;
  /** FRU text, at most 20 ASCII characters. */
  fruText: string;
  body: Uint8Array;
}

export interface CperRecord {
  revision: number;
  severity: number;
  validationBits: number;
  /**
   * The 8 TimeStamp bytes as a little-endian u64: UEFI's BCD seconds..century layout
   * (`cperTimestamp`), or raw Unix seconds as Linux's pstore-erst writes them (domain reference §6.2).
   */
  timestamp: bigint;
  platformId: string;
  partitionId: string;
  creatorId: string;
  notificationType: string;
  recordId: bigint;
  flags: number;
  persistenceInfo: bigint;
  sections: CperSection[];
}

const bcd = (n: number) => ((Math.floor(n / 10) % 10) << 4) | (n % 10);

/** The UEFI Appendix N timestamp of a date (BCD seconds, minutes, hours, flags, day, month, year, century). */
export function cperTimestamp(date: Date, precise = true): bigint {
  const bytes = [
    bcd(date.getUTCSeconds()),
    bcd(date.getUTCMinutes()),
    bcd(date.getUTCHours()),
    precise ? 1 : 0,
    bcd(date.getUTCDate()),
    bcd(date.getUTCMonth() + 1),
    bcd(date.getUTCFullYear() % 100),
    bcd(Math.floor(date.getUTCFullYear() / 100)),
  ];
  return bytes.reduceRight((acc, b) => (acc << 8n) | BigInt(b), 0n);
}

/** Bytes a record with these section bodies occupies. */
export function cperRecordLength(sections: readonly { body: Uint8Array }[]): number {
  return CPER_HEADER_SIZE + sections.length * CPER_SECTION_DESCRIPTOR_SIZE + sections.reduce((s, x) => s + x.body.length, 0);
}

/** Encodes a record: header, descriptors, then each section body in order (SectionOffset counts from the record start). */
export function encodeCperRecord(r: CperRecord): Uint8Array {
  if (r.sections.length > 0xffff) throw new FormatError('CPER SectionCount', 'at most 65535 sections', String(r.sections.length));
  const length = cperRecordLength(r.sections);
  if (length > 0xffffffff) throw new FormatError('CPER RecordLength', 'at most 4 GiB', String(length));
  const out = new Uint8Array(length);
  const v = viewOf(out);
  for (let i = 0; i < 4; i++) out[i] = CPER_SIGNATURE.charCodeAt(i);
  v.setUint16(4, r.revision, true);
  v.setUint32(6, CPER_SIGNATURE_END, true);
  v.setUint16(10, r.sections.length, true);
  v.setUint32(12, r.severity, true);
  v.setUint32(16, r.validationBits, true);
  v.setUint32(20, length, true);
  v.setBigUint64(24, r.timestamp, true);
  writeGuid(out, 32, r.platformId);
  writeGuid(out, 48, r.partitionId);
  writeGuid(out, 64, r.creatorId);
  writeGuid(out, 80, r.notificationType);
  v.setBigUint64(96, r.recordId, true);
  v.setUint32(104, r.flags, true);
  v.setBigUint64(108, r.persistenceInfo, true);
  let bodyAt = CPER_HEADER_SIZE + r.sections.length * CPER_SECTION_DESCRIPTOR_SIZE;
  r.sections.forEach((s, i) => {
    const d = CPER_HEADER_SIZE + i * CPER_SECTION_DESCRIPTOR_SIZE;
    v.setUint32(d, bodyAt, true);
    v.setUint32(d + 4, s.body.length, true);
    v.setUint16(d + 8, s.revision, true);
    out[d + 10] = s.validationBits;
    v.setUint32(d + 12, s.flags, true);
    writeGuid(out, d + 16, s.sectionType);
    writeGuid(out, d + 32, s.fruId);
    v.setUint32(d + 48, s.severity, true);
    writeAsciiField(out, d + 52, 20, s.fruText, 'CPER FRU text');
    out.set(s.body, bodyAt);
    bodyAt += s.body.length;
  });
  return out;
}

/**
 * Decodes a CPER record, checking the signature, the end marker, and that the record and every
 * section lie inside the buffer. Bytes after RecordLength are ignored.
 */
export function decodeCperRecord(buf: Uint8Array, place: Place = {}): CperRecord {
  need(buf, 0, CPER_HEADER_SIZE, 'CPER record header', place);
  const v = viewOf(buf);
  const sig = String.fromCharCode(...buf.subarray(0, 4));
  if (sig !== CPER_SIGNATURE) throw new FormatError('CPER signature', '"CPER"', JSON.stringify(sig), at(place, 0));
  const end = v.getUint32(6, true);
  if (end !== CPER_SIGNATURE_END) throw new FormatError('CPER SignatureEnd', '0xffffffff', `0x${end.toString(16)}`, at(place, 6));
  const count = v.getUint16(10, true);
  const length = v.getUint32(20, true);
  const tableEnd = CPER_HEADER_SIZE + count * CPER_SECTION_DESCRIPTOR_SIZE;
  if (length < tableEnd)
    throw new FormatError('CPER RecordLength', `at least ${tableEnd} for ${count} sections`, String(length), at(place, 20));
  if (length > buf.length) throw new FormatError('CPER record', `${length} bytes (RecordLength)`, `${buf.length} bytes`, at(place, 20));
  const sections: CperSection[] = [];
  for (let i = 0; i < count; i++) {
    const d = CPER_HEADER_SIZE + i * CPER_SECTION_DESCRIPTOR_SIZE;
    const offset = v.getUint32(d, true);
    const size = v.getUint32(d + 4, true);
    if (offset < tableEnd || offset + size > length) {
      throw new FormatError(
        `CPER section ${i}`,
        `inside the record after its descriptors [${tableEnd}, ${length})`,
        `[${offset}, ${offset + size})`,
        at(place, d),
      );
    }
    sections.push({
      revision: v.getUint16(d + 8, true),
      validationBits: buf[d + 10],
      flags: v.getUint32(d + 12, true),
      sectionType: readGuid(buf, d + 16),
      fruId: readGuid(buf, d + 32),
      severity: v.getUint32(d + 48, true),
      fruText: readAsciiField(buf, d + 52, 20),
      body: buf.slice(offset, offset + size),
    });
  }
  return {
    revision: v.getUint16(4, true),
    severity: v.getUint32(12, true),
    validationBits: v.getUint32(16, true),
    timestamp: v.getBigUint64(24, true),
    platformId: readGuid(buf, 32),
    partitionId: readGuid(buf, 48),
    creatorId: readGuid(buf, 64),
    notificationType: readGuid(buf, 80),
    recordId: v.getBigUint64(96, true),
    flags: v.getUint32(104, true),
    persistenceInfo: v.getBigUint64(108, true),
    sections,
  };
}
