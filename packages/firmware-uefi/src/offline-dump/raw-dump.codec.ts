import { FormatError, type ErrorPlace } from '@efikdump/core';

// OffCD OfflineDumpHeaders.h: RAW_DUMP_HEADER (56 bytes, packed) and SectionsCount ×
// RAW_DUMP_SECTION_HEADER (64 bytes, packed); section offsets count from the raw header's first byte.
export const RAW_DUMP_SIGNATURE = 0x2170_6d44_5f77_6152n; // "Raw_Dmp!"
export const RAW_DUMP_HEADER_BYTES = 56;
export const RAW_DUMP_SECTION_HEADER_BYTES = 64;
export const RAW_DUMP_MAJOR = 1;
export const RAW_DUMP_MINOR = 0;
export const SECTION_NAME_BYTES = 20;

export const RawDumpFlags = {
  dumpValid: 0x1,
  insufficientStorage: 0x2,
  hypervDataProtected: 0x4,
  ddrCacheFlushed: 0x8,
} as const;

export const SectionFlags = {
  valid: 0x1,
  insufficientStorage: 0x2,
} as const;

export const SectionType = {
  ddrRange: 1,
  cpuContext: 2,
  svSpecific: 3,
  dumpReason: 4,
  systemInformation: 5,
} as const;

export const SystemArchitecture = { arm64: 0, x64: 1 } as const;

export interface RawDumpHeader {
  major: number;
  minor: number;
  flags: number;
  osData: bigint;
  cpuContext: bigint;
  resetTrigger: number;
  dumpSize: number;
  totalDumpSizeRequired: number;
  sectionsCount: number;
}

/** The section's 16-byte Information union, by type. */
export type SectionInformation =
  | { kind: 'ddr-range'; base: number }
  | { kind: 'dump-reason'; parameters: [number, number, number, number] }
  | { kind: 'system-information'; vendor: string; platform: string; architecture: number }
  | { kind: 'none' };

export interface RawDumpSection {
  flags: number;
  major: number;
  minor: number;
  type: number;
  offset: number;
  size: number;
  information: SectionInformation;
  name: string;
}

function need(buf: Uint8Array, off: number, size: number, what: string, place: ErrorPlace): void {
  if (off < 0 || off + size > buf.length)
    throw new FormatError(what, `${size} bytes`, `${Math.max(0, buf.length - off)} bytes`, { ...place, offset: (place.offset ?? 0) + off });
}

function safe(v: bigint, what: string, place: ErrorPlace): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new FormatError(what, 'a value below 2^53', `0x${v.toString(16)}`, place);
  return Number(v);
}

function ascii(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return Buffer.from(end < 0 ? bytes : bytes.subarray(0, end)).toString('latin1');
}

function putAscii(dst: Uint8Array, off: number, max: number, text: string, what: string): void {
  const b = Buffer.from(text, 'latin1');
  if (b.length > max) throw new FormatError(what, `at most ${max} characters`, `${b.length}`);
  dst.set(b, off);
}

export function encodeRawDumpHeader(h: RawDumpHeader): Uint8Array {
  const out = new Uint8Array(RAW_DUMP_HEADER_BYTES);
  const v = new DataView(out.buffer);
  v.setBigUint64(0, RAW_DUMP_SIGNATURE, true);
  v.setUint16(8, h.major, true);
  v.setUint16(10, h.minor, true);
  v.setUint32(12, h.flags, true);
  v.setBigUint64(16, BigInt.asUintN(64, h.osData), true);
  v.setBigUint64(24, h.cpuContext, true);
  v.setUint32(32, h.resetTrigger, true);
  v.setBigUint64(36, BigInt(h.dumpSize), true);
  v.setBigUint64(44, BigInt(h.totalDumpSizeRequired), true);
  v.setUint32(52, h.sectionsCount, true);
  return out;
}

export function decodeRawDumpHeader(buf: Uint8Array, place: ErrorPlace = {}): RawDumpHeader {
  need(buf, 0, RAW_DUMP_HEADER_BYTES, 'RAW_DUMP_HEADER', place);
  const v = new DataView(buf.buffer, buf.byteOffset, buf.length);
  const sig = v.getBigUint64(0, true);
  if (sig !== RAW_DUMP_SIGNATURE)
    throw new FormatError(
      'RAW_DUMP_HEADER Signature',
      '"Raw_Dmp!"',
      JSON.stringify(Buffer.from(buf.subarray(0, 8)).toString('latin1')),
      place,
    );
  const major = v.getUint16(8, true);
  if (major !== RAW_DUMP_MAJOR)
    throw new FormatError('RAW_DUMP_HEADER MajorVersion', `${RAW_DUMP_MAJOR}`, `${major}`, { ...place, offset: (place.offset ?? 0) + 8 });
  return {
    major,
    minor: v.getUint16(10, true),
    flags: v.getUint32(12, true),
    osData: v.getBigUint64(16, true),
    cpuContext: v.getBigUint64(24, true),
    resetTrigger: v.getUint32(32, true),
    dumpSize: safe(v.getBigUint64(36, true), 'RAW_DUMP_HEADER DumpSize', place),
    totalDumpSizeRequired: safe(v.getBigUint64(44, true), 'RAW_DUMP_HEADER TotalDumpSizeRequired', place),
    sectionsCount: v.getUint32(52, true),
  };
}

export function encodeRawDumpSection(s: RawDumpSection): Uint8Array {
  const out = new Uint8Array(RAW_DUMP_SECTION_HEADER_BYTES);
  const v = new DataView(out.buffer);
  v.setUint32(0, s.flags, true);
  v.setUint16(4, s.major, true);
  v.setUint16(6, s.minor, true);
  v.setUint32(8, s.type, true);
  v.setBigUint64(12, BigInt(s.offset), true);
  v.setBigUint64(20, BigInt(s.size), true);
  const info = s.information;
  if (info.kind === 'ddr-range') v.setBigUint64(28, BigInt(info.base), true);
  else if (info.kind === 'dump-reason') info.parameters.forEach((p, i) => v.setUint32(28 + 4 * i, p >>> 0, true));
  else if (info.kind === 'system-information') {
    putAscii(out, 28, 4, info.vendor, 'SYSTEM_INFORMATION Vendor');
    putAscii(out, 32, 8, info.platform, 'SYSTEM_INFORMATION Platform');
    v.setUint32(40, info.architecture, true);
  }
  putAscii(out, 44, SECTION_NAME_BYTES, s.name, 'section Name');
  return out;
}

export function decodeRawDumpSection(buf: Uint8Array, off: number, place: ErrorPlace = {}): RawDumpSection {
  need(buf, off, RAW_DUMP_SECTION_HEADER_BYTES, 'RAW_DUMP_SECTION_HEADER', place);
  const v = new DataView(buf.buffer, buf.byteOffset + off, RAW_DUMP_SECTION_HEADER_BYTES);
  const at = { ...place, offset: (place.offset ?? 0) + off };
  const type = v.getUint32(8, true);
  let information: SectionInformation = { kind: 'none' };
  if (type === SectionType.ddrRange) information = { kind: 'ddr-range', base: safe(v.getBigUint64(28, true), 'DDR_RANGE Base', at) };
  else if (type === SectionType.dumpReason)
    information = {
      kind: 'dump-reason',
      parameters: [0, 1, 2, 3].map((i) => v.getUint32(28 + 4 * i, true)) as [number, number, number, number],
    };
  else if (type === SectionType.systemInformation) {
    const b = buf.subarray(off, off + RAW_DUMP_SECTION_HEADER_BYTES);
    information = {
      kind: 'system-information',
      vendor: ascii(b.subarray(28, 32)),
      platform: ascii(b.subarray(32, 40)),
      architecture: v.getUint32(40, true),
    };
  }
  return {
    flags: v.getUint32(0, true),
    major: v.getUint16(4, true),
    minor: v.getUint16(6, true),
    type,
    offset: safe(v.getBigUint64(12, true), 'section Offset', at),
    size: safe(v.getBigUint64(20, true), 'section Size', at),
    information,
    name: ascii(buf.subarray(off + 44, off + 44 + SECTION_NAME_BYTES)),
  };
}

/** Decodes the header and its section table, checking every section lies inside DumpSize. */
export function decodeRawDumpHeaders(buf: Uint8Array, place: ErrorPlace = {}): { header: RawDumpHeader; sections: RawDumpSection[] } {
  const header = decodeRawDumpHeader(buf, place);
  const sections: RawDumpSection[] = [];
  for (let i = 0; i < header.sectionsCount; i++) {
    const off = RAW_DUMP_HEADER_BYTES + i * RAW_DUMP_SECTION_HEADER_BYTES;
    const s = decodeRawDumpSection(buf, off, place);
    if (s.offset + s.size > header.dumpSize) {
      throw new FormatError(`section ${i} (${s.name}) extent`, `inside DumpSize ${header.dumpSize}`, `${s.offset}+${s.size}`, {
        ...place,
        offset: (place.offset ?? 0) + off + 12,
      });
    }
    sections.push(s);
  }
  return { header, sections };
}

/** Bytes the header and `count` section headers take. */
export const rawDumpHeadersBytes = (count: number): number => RAW_DUMP_HEADER_BYTES + count * RAW_DUMP_SECTION_HEADER_BYTES;
