import { decodeAscii, FormatError } from '@efikdump/core/base';
import type { ErrorPlace } from '@efikdump/core';

// makedumpfile diskdump_mod.h, 64-bit writer; packed offsets per libkdumpfile diskdump.c (domain reference §3.1).
export const KDUMP_SIGNATURE = 'KDUMP   ';
export const DISKDUMP_SIGNATURE = 'DISKDUMP';
export const KDUMP_HEADER_VERSION = 6;
export const DISK_DUMP_HEADER_BYTES = 464;
export const KDUMP_SUB_HEADER_BYTES = 104;
export const PAGE_DESC_BYTES = 24;
export const UTSNAME_FIELD_BYTES = 65;
export const UTSNAME_FIELDS = ['sysname', 'nodename', 'release', 'version', 'machine', 'domainname'] as const;

// Flags of disk_dump_header.status and page_desc.flags.
export const DUMP_DH_COMPRESSED_ZLIB = 0x1;
export const DUMP_DH_COMPRESSED_LZO = 0x2;
export const DUMP_DH_COMPRESSED_SNAPPY = 0x4;
export const DUMP_DH_COMPRESSED_INCOMPLETE = 0x8;
export const DUMP_DH_EXCLUDED_VMEMMAP = 0x10;
export const DUMP_DH_COMPRESSED_ZSTD = 0x20;
export const COMPRESSION_FLAGS = DUMP_DH_COMPRESSED_ZLIB | DUMP_DH_COMPRESSED_LZO | DUMP_DH_COMPRESSED_SNAPPY | DUMP_DH_COMPRESSED_ZSTD;

/** Smallest and largest block (page) size a reader accepts: 4 KiB .. 64 KiB pages. */
export const MIN_BLOCK_SIZE = 4096;
export const MAX_BLOCK_SIZE = 65536;

export type Utsname = Record<(typeof UTSNAME_FIELDS)[number], string>;

export interface DiskDumpHeader {
  signature: string;
  headerVersion: number;
  utsname: Utsname;
  timestampSec: number;
  timestampUsec: number;
  status: number;
  blockSize: number;
  /** Blocks of the sub header and the notes copied after it. */
  subHdrSize: number;
  /** Blocks of both bitmaps together. */
  bitmapBlocks: number;
  /** max_mapnr truncated to 32 bits (the sub header's maxMapnr64 is the real one from version 6). */
  maxMapnr: number;
  totalRamBlocks: number;
  deviceBlocks: number;
  writtenBlocks: number;
  currentCpu: number;
  nrCpus: number;
}

export interface KdumpSubHeader {
  physBase: bigint;
  dumpLevel: number;
  split: number;
  startPfn: number;
  endPfn: number;
  offsetVmcoreinfo: number;
  sizeVmcoreinfo: number;
  offsetNote: number;
  sizeNote: number;
  offsetEraseinfo: number;
  sizeEraseinfo: number;
  startPfn64: number;
  endPfn64: number;
  maxMapnr64: number;
}

export interface PageDesc {
  /** File offset of the page data (0: lost in an incomplete dump). */
  offset: number;
  size: number;
  flags: number;
  pageFlags: bigint;
}

export const emptyUtsname = (): Utsname => ({ sysname: '', nodename: '', release: '', version: '', machine: '', domainname: '' });

export function encodeDiskDumpHeader(h: DiskDumpHeader): Uint8Array {
  const out = new Uint8Array(DISK_DUMP_HEADER_BYTES);
  const v = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) out[i] = h.signature.charCodeAt(i) & 0x7f;
  v.setInt32(8, h.headerVersion, true);
  UTSNAME_FIELDS.forEach((f, i) => {
    const s = h.utsname[f].slice(0, UTSNAME_FIELD_BYTES - 1);
    for (let k = 0; k < s.length; k++) out[12 + i * UTSNAME_FIELD_BYTES + k] = s.charCodeAt(k) & 0x7f;
  });
  v.setBigInt64(408, BigInt(h.timestampSec), true);
  v.setBigInt64(416, BigInt(h.timestampUsec), true);
  v.setUint32(424, h.status, true);
  v.setInt32(428, h.blockSize, true);
  v.setInt32(432, h.subHdrSize, true);
  v.setUint32(436, h.bitmapBlocks, true);
  v.setUint32(440, Math.min(h.maxMapnr, 0xffffffff), true);
  v.setUint32(444, h.totalRamBlocks, true);
  v.setUint32(448, h.deviceBlocks, true);
  v.setUint32(452, h.writtenBlocks, true);
  v.setUint32(456, h.currentCpu, true);
  v.setInt32(460, h.nrCpus, true);
  return out;
}

const place = (p: ErrorPlace, rel: number): ErrorPlace => ({ file: p.file, offset: (p.offset ?? 0) + rel });

/** Decodes the 464-byte main header; checks the signature and that the block size is a page size. */
export function decodeDiskDumpHeader(buf: Uint8Array, where: ErrorPlace = {}): DiskDumpHeader {
  if (buf.length < DISK_DUMP_HEADER_BYTES) {
    throw new FormatError('kdump header', `${DISK_DUMP_HEADER_BYTES} bytes`, `${buf.length} bytes`, place(where, 0));
  }
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const signature = String.fromCharCode(...buf.subarray(0, 8));
  if (signature !== KDUMP_SIGNATURE && signature !== DISKDUMP_SIGNATURE) {
    throw new FormatError('kdump signature', '"KDUMP   " or "DISKDUMP"', JSON.stringify(decodeAscii(buf.subarray(0, 8))), place(where, 0));
  }
  const headerVersion = v.getInt32(8, true);
  if (headerVersion < 0 || headerVersion > 64)
    throw new FormatError('header_version', 'a version from 0 to 6', String(headerVersion), place(where, 8));
  const utsname = emptyUtsname();
  UTSNAME_FIELDS.forEach((f, i) => {
    const start = 12 + i * UTSNAME_FIELD_BYTES;
    utsname[f] = decodeAscii(buf.subarray(start, start + UTSNAME_FIELD_BYTES));
  });
  const blockSize = v.getInt32(428, true);
  if (blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE || (blockSize & (blockSize - 1)) !== 0) {
    throw new FormatError('block_size', `a power of two from ${MIN_BLOCK_SIZE} to ${MAX_BLOCK_SIZE}`, String(blockSize), place(where, 428));
  }
  const subHdrSize = v.getInt32(432, true);
  if (subHdrSize < 0) throw new FormatError('sub_hdr_size', 'a block count of 0 or more', String(subHdrSize), place(where, 432));
  const nrCpus = v.getInt32(460, true);
  return {
    signature,
    headerVersion,
    utsname,
    timestampSec: Number(v.getBigInt64(408, true)),
    timestampUsec: Number(v.getBigInt64(416, true)),
    status: v.getUint32(424, true),
    blockSize,
    subHdrSize,
    bitmapBlocks: v.getUint32(436, true),
    maxMapnr: v.getUint32(440, true),
    totalRamBlocks: v.getUint32(444, true),
    deviceBlocks: v.getUint32(448, true),
    writtenBlocks: v.getUint32(452, true),
    currentCpu: v.getUint32(456, true),
    nrCpus,
  };
}

export function encodeKdumpSubHeader(s: KdumpSubHeader): Uint8Array {
  const out = new Uint8Array(KDUMP_SUB_HEADER_BYTES);
  const v = new DataView(out.buffer);
  v.setBigUint64(0, BigInt.asUintN(64, s.physBase), true);
  v.setInt32(8, s.dumpLevel, true);
  v.setInt32(12, s.split, true);
  const u64 = (off: number, n: number) => v.setBigUint64(off, BigInt(n), true);
  u64(16, s.startPfn);
  u64(24, s.endPfn);
  u64(32, s.offsetVmcoreinfo);
  u64(40, s.sizeVmcoreinfo);
  u64(48, s.offsetNote);
  u64(56, s.sizeNote);
  u64(64, s.offsetEraseinfo);
  u64(72, s.sizeEraseinfo);
  u64(80, s.startPfn64);
  u64(88, s.endPfn64);
  u64(96, s.maxMapnr64);
  return out;
}

/** Fields a header of `version` does not have read as 0 (the sub header grew with each version). */
export function decodeKdumpSubHeader(buf: Uint8Array, headerVersion: number, where: ErrorPlace = {}): KdumpSubHeader {
  if (buf.length < KDUMP_SUB_HEADER_BYTES) {
    throw new FormatError('kdump sub header', `${KDUMP_SUB_HEADER_BYTES} bytes`, `${buf.length} bytes`, place(where, 0));
  }
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const num = (off: number, what: string, since: number): number => {
    if (headerVersion < since) return 0;
    const x = v.getBigUint64(off, true);
    if (x > BigInt(Number.MAX_SAFE_INTEGER)) throw new FormatError(what, 'a value below 2^53', `0x${x.toString(16)}`, place(where, off));
    return Number(x);
  };
  return {
    physBase: v.getBigUint64(0, true),
    dumpLevel: headerVersion >= 1 ? v.getInt32(8, true) : 0,
    split: headerVersion >= 2 ? v.getInt32(12, true) : 0,
    startPfn: num(16, 'start_pfn', 2),
    endPfn: num(24, 'end_pfn', 2),
    offsetVmcoreinfo: num(32, 'offset_vmcoreinfo', 3),
    sizeVmcoreinfo: num(40, 'size_vmcoreinfo', 3),
    offsetNote: num(48, 'offset_note', 4),
    sizeNote: num(56, 'size_note', 4),
    offsetEraseinfo: num(64, 'offset_eraseinfo', 5),
    sizeEraseinfo: num(72, 'size_eraseinfo', 5),
    startPfn64: num(80, 'start_pfn_64', 6),
    endPfn64: num(88, 'end_pfn_64', 6),
    maxMapnr64: num(96, 'max_mapnr_64', 6),
  };
}

export function encodePageDesc(d: PageDesc, out: Uint8Array = new Uint8Array(PAGE_DESC_BYTES), at = 0): Uint8Array {
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  v.setBigInt64(at, BigInt(d.offset), true);
  v.setUint32(at + 8, d.size, true);
  v.setUint32(at + 12, d.flags, true);
  v.setBigUint64(at + 16, d.pageFlags, true);
  return out;
}

export function decodePageDesc(buf: Uint8Array, at: number, where: ErrorPlace = {}): PageDesc {
  if (at < 0 || at + PAGE_DESC_BYTES > buf.length) {
    throw new FormatError('page descriptor', `${PAGE_DESC_BYTES} bytes`, `${Math.max(0, buf.length - at)} bytes`, place(where, at));
  }
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const offset = v.getBigInt64(at, true);
  if (offset < 0n || offset > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new FormatError('page_desc.offset', 'a file offset from 0 to 2^53', String(offset), place(where, at));
  }
  return {
    offset: Number(offset),
    size: v.getUint32(at + 8, true),
    flags: v.getUint32(at + 12, true),
    pageFlags: v.getBigUint64(at + 16, true),
  };
}

/** Bytes of one bitmap for `maxMapnr` frames: one bit per frame, rounded up to whole blocks. */
export const bitmapBytesFor = (maxMapnr: number, blockSize: number): number => Math.ceil(Math.ceil(maxMapnr / 8) / blockSize) * blockSize;
