import { closeSync } from 'node:fs';
import { decodeAscii, decodePrStatus, FormatError, hex, IoError, NT_PRSTATUS, NT_VMCOREINFO, parseVmcoreinfo } from '@efikdump/core/base';
import type { ElfNote, ErrorPlace } from '@efikdump/core';
import { decodeNotes } from '../elfcorehdr/notes';
import {
  decodeDiskDumpHeader,
  decodeKdumpSubHeader,
  decodePageDesc,
  DISK_DUMP_HEADER_BYTES,
  DUMP_DH_COMPRESSED_INCOMPLETE,
  KDUMP_SUB_HEADER_BYTES,
  PAGE_DESC_BYTES,
  type DiskDumpHeader,
  type KdumpSubHeader,
  type PageDesc,
} from '../writers/kdump-compressed/diskdump.codec';
import { decompressPage } from '../writers/kdump-compressed/compression';
import { MAX_FILE_NOTES_BYTES, type CpuRegisters } from './elf-core-file';
import { openForReading, readExactly, readInto, regularFileSize } from './positional-read';

/** What a kdump-compressed file says about one frame. */
export type FrameState = 'hole' | 'excluded' | 'dumped' | 'lost';

const POPCOUNT = new Uint8Array(256).map((_, i) => {
  let n = 0;
  for (let x = i; x; x >>= 1) n += x & 1;
  return n;
});

/** Descriptors read at once when walking in frame order. */
const DESC_CACHE_ENTRIES = 4096;

/**
 * A kdump-compressed (diskdump) file, as makedumpfile writes it (domain reference §3.1), read with
 * positional reads only. Opening validates the headers against the file size before anything is
 * sized from them: bitmaps and the notes must lie inside the file, max_mapnr must fit the bitmaps.
 * Bitmap blocks and descriptors are read on demand; a rank index (set bits of bitmap 2 per block)
 * is built on first use, so memory stays at a few bytes per 32768 frames.
 */
export class KdumpCompressedFile {
  readonly format = 'kdump-compressed' as const;
  private fd: number | undefined;
  private cachedNotes: ElfNote[] | undefined;
  private rank: Float64Array | undefined;
  private readonly bitmapCache = new Map<number, Uint8Array>();
  private descCache: { first: number; buf: Uint8Array } | undefined;
  private cursor = { pfn: 0, index: 0 };

  private constructor(
    readonly path: string,
    fd: number,
    readonly size: number,
    readonly header: DiskDumpHeader,
    readonly subHeader: KdumpSubHeader,
    /** Frames described by the bitmaps. */
    readonly maxMapnr: number,
    /** File offset of bitmap 1; bitmap 2 follows at bitmap1Offset + bitmapBytes. */
    readonly bitmap1Offset: number,
    readonly bitmapBytes: number,
    readonly descOffset: number,
  ) {
    this.fd = fd;
  }

  get pageSize(): number {
    return this.header.blockSize;
  }

  /** makedumpfile's dump level recorded in the sub header. */
  get dumpLevel(): number {
    return this.subHeader.dumpLevel;
  }

  static open(path: string): KdumpCompressedFile {
    const fd = openForReading(path);
    try {
      const size = regularFileSize(fd, path);
      const at = (offset: number): ErrorPlace => ({ file: path, offset });
      if (size < DISK_DUMP_HEADER_BYTES)
        throw new FormatError('kdump header', `${DISK_DUMP_HEADER_BYTES} bytes`, `a ${size}-byte file`, at(0));
      const header = decodeDiskDumpHeader(readExactly(fd, path, 0, DISK_DUMP_HEADER_BYTES), { file: path });
      const bs = header.blockSize;
      if (header.subHdrSize < 1)
        throw new FormatError('sub_hdr_size', 'at least 1 block (the sub header)', String(header.subHdrSize), at(432));
      const bitmap1Offset = (1 + header.subHdrSize) * bs;
      const descOffset = bitmap1Offset + header.bitmapBlocks * bs;
      if (!Number.isSafeInteger(descOffset) || descOffset > size) {
        throw new FormatError(
          'sub_hdr_size and bitmap_blocks',
          `headers and bitmaps inside the ${size}-byte file`,
          `${header.subHdrSize} + ${header.bitmapBlocks} blocks of ${bs} bytes`,
          at(432),
        );
      }
      if (header.bitmapBlocks === 0 || header.bitmapBlocks % 2 !== 0) {
        throw new FormatError('bitmap_blocks', 'an even, non-zero number of blocks (two bitmaps)', String(header.bitmapBlocks), at(436));
      }
      const subHeader = decodeKdumpSubHeader(readExactly(fd, path, bs, KDUMP_SUB_HEADER_BYTES), header.headerVersion, at(bs));
      const bitmapBytes = (header.bitmapBlocks / 2) * bs;
      const maxMapnr = header.headerVersion >= 6 && subHeader.maxMapnr64 > 0 ? subHeader.maxMapnr64 : header.maxMapnr;
      if (maxMapnr > bitmapBytes * 8) {
        throw new FormatError(
          'max_mapnr',
          `at most ${bitmapBytes * 8} frames (what bitmaps of ${bitmapBytes} bytes describe)`,
          String(maxMapnr),
          at(header.headerVersion >= 6 ? bs + 96 : 440),
        );
      }
      const subEnd = bitmap1Offset;
      for (const [what, off, len, field] of [
        ['notes', subHeader.offsetNote, subHeader.sizeNote, 48],
        ['VMCOREINFO', subHeader.offsetVmcoreinfo, subHeader.sizeVmcoreinfo, 32],
      ] as const) {
        if (len === 0) continue;
        if (len > MAX_FILE_NOTES_BYTES || off < bs + KDUMP_SUB_HEADER_BYTES || off + len > subEnd) {
          throw new FormatError(
            `offset/size of ${what}`,
            `a range inside the sub header blocks ${hex(bs + KDUMP_SUB_HEADER_BYTES)}-${hex(subEnd)}`,
            `${hex(off)} + ${len} bytes`,
            at(bs + field),
          );
        }
      }
      return new KdumpCompressedFile(path, fd, size, header, subHeader, maxMapnr, bitmap1Offset, bitmapBytes, descOffset);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  /** The ELF notes copied into the sub header (makedumpfile copies /proc/vmcore's PT_NOTE). */
  notesBytes(): Uint8Array {
    const { offsetNote, sizeNote } = this.subHeader;
    return sizeNote ? this.readAt(offsetNote, sizeNote) : new Uint8Array(0);
  }

  notes(): ElfNote[] {
    if (!this.cachedNotes) this.cachedNotes = decodeNotes(this.notesBytes(), { file: this.path, base: this.subHeader.offsetNote });
    return this.cachedNotes;
  }

  /** VMCOREINFO from offset_vmcoreinfo (or the note of that name), or undefined. */
  vmcoreinfo(): Map<string, string> | undefined {
    const { offsetVmcoreinfo, sizeVmcoreinfo } = this.subHeader;
    if (sizeVmcoreinfo) return parseVmcoreinfo(decodeAscii(this.readAt(offsetVmcoreinfo, sizeVmcoreinfo)));
    const note = this.notes().find((n) => n.name === 'VMCOREINFO' && n.type === NT_VMCOREINFO);
    return note ? parseVmcoreinfo(decodeAscii(note.desc)) : undefined;
  }

  prstatus(): CpuRegisters[] {
    return this.notes()
      .filter((n) => n.name === 'CORE' && n.type === NT_PRSTATUS)
      .map((n, cpu) => ({ cpu, ...decodePrStatus(n.desc, { file: this.path, base: n.offset }) }));
  }

  /** Bits [startPfn, startPfn + dst.length * 8) of bitmap `which` into `dst` (frames past max_mapnr read as 0). */
  readBitmap(which: 1 | 2, startPfn: number, dst: Uint8Array): void {
    if (startPfn % 8) throw new RangeError('startPfn must be a multiple of 8');
    dst.fill(0);
    const firstByte = startPfn / 8;
    const usable = Math.max(0, Math.min(dst.length, Math.ceil(this.maxMapnr / 8) - firstByte));
    if (usable > 0) readInto(this.openFd(), this.path, this.bitmapOffset(which) + firstByte, dst.subarray(0, usable));
    const lastValid = this.maxMapnr - startPfn;
    if (lastValid < dst.length * 8) for (let bit = Math.max(0, lastValid); bit < dst.length * 8; bit++) dst[bit >> 3] &= ~(1 << (bit & 7));
  }

  /** What the file says about frame `pfn`. */
  frameState(pfn: number): FrameState {
    if (!Number.isSafeInteger(pfn) || pfn < 0 || pfn >= this.maxMapnr) return 'hole';
    if (!this.bit(2, pfn)) return this.bit(1, pfn) ? 'excluded' : 'hole';
    const desc = this.descriptor(this.descIndex(pfn));
    return desc.offset === 0 && this.header.status & DUMP_DH_COMPRESSED_INCOMPLETE ? 'lost' : 'dumped';
  }

  /** The page descriptor of frame `pfn`, which must be set in bitmap 2. */
  descriptorOf(pfn: number): PageDesc {
    return this.descriptor(this.descIndex(pfn));
  }

  /** Reads and decompresses frame `pfn` into `dst` (pageSize bytes); false when it is not in the dump. */
  readFrame(pfn: number, dst: Uint8Array): boolean {
    if (this.frameState(pfn) !== 'dumped') return false;
    const index = this.descIndex(pfn);
    this.readFrameWith(this.descriptor(index), index, dst);
    return true;
  }

  /** Reads the page that `desc` (descriptor number `index`) points at into `dst`. */
  readFrameWith(desc: PageDesc, index: number, dst: Uint8Array): void {
    const where = { file: this.path, offset: this.descOffset + index * PAGE_DESC_BYTES };
    if (desc.size === 0 || desc.size > this.pageSize || desc.offset < this.descOffset || desc.offset + desc.size > this.size) {
      throw new FormatError(
        'page descriptor',
        `1..${this.pageSize} bytes of data inside the ${this.size}-byte file`,
        `offset ${hex(desc.offset)}, size ${desc.size}`,
        where,
      );
    }
    const data = this.readAt(desc.offset, desc.size);
    dst.set(decompressPage(desc.flags, data, this.pageSize, where));
  }

  /** Physical memory [paddr, paddr + dst.length) into `dst`; false when part of it is not in the dump. */
  readPhys(paddr: number, dst: Uint8Array): boolean {
    if (!Number.isSafeInteger(paddr) || paddr < 0) return false;
    const ps = this.pageSize;
    const page = new Uint8Array(ps);
    let done = 0;
    while (done < dst.length) {
      const addr = paddr + done;
      const pfn = Math.floor(addr / ps);
      const inPage = addr - pfn * ps;
      const n = Math.min(ps - inPage, dst.length - done);
      if (!this.readFrame(pfn, page)) return false;
      dst.set(page.subarray(inPage, inPage + n), done);
      done += n;
    }
    return true;
  }

  /** Number of frames set in bitmap 2 (the descriptors the file must hold). */
  dumpedFrames(): number {
    const rank = this.rankIndex();
    const blocks = rank.length - 1;
    return rank[blocks];
  }

  close(): void {
    if (this.fd !== undefined) {
      closeSync(this.fd);
      this.fd = undefined;
    }
  }

  private bitmapOffset(which: 1 | 2): number {
    return this.bitmap1Offset + (which === 2 ? this.bitmapBytes : 0);
  }

  private bitmapBlock(which: 1 | 2, block: number): Uint8Array {
    const key = which * 0x100000000 + block;
    let buf = this.bitmapCache.get(key);
    if (!buf) {
      buf = this.readAt(this.bitmapOffset(which) + block * this.pageSize, this.pageSize);
      if (this.bitmapCache.size >= 16) this.bitmapCache.delete(this.bitmapCache.keys().next().value as number);
      this.bitmapCache.set(key, buf);
    }
    return buf;
  }

  private bit(which: 1 | 2, pfn: number): boolean {
    const bitsPerBlock = this.pageSize * 8;
    const block = Math.floor(pfn / bitsPerBlock);
    const rel = pfn - block * bitsPerBlock;
    return (this.bitmapBlock(which, block)[rel >> 3] & (1 << (rel & 7))) !== 0;
  }

  /** rank[b] = set bits of bitmap 2 before block b; built once by streaming bitmap 2. */
  private rankIndex(): Float64Array {
    if (this.rank) return this.rank;
    const bs = this.pageSize;
    const blocks = Math.ceil(Math.ceil(this.maxMapnr / 8) / bs);
    const rank = new Float64Array(blocks + 1);
    const chunkBlocks = 64;
    const buf = new Uint8Array(chunkBlocks * bs);
    let total = 0;
    for (let b = 0; b < blocks; b += chunkBlocks) {
      const n = Math.min(chunkBlocks, blocks - b);
      const part = buf.subarray(0, n * bs);
      this.readBitmap(2, b * bs * 8, part);
      for (let k = 0; k < n; k++) {
        rank[b + k] = total;
        const blk = part.subarray(k * bs, (k + 1) * bs);
        for (let i = 0; i < bs; i++) total += POPCOUNT[blk[i]];
      }
    }
    rank[blocks] = total;
    const descEnd = this.descOffset + total * PAGE_DESC_BYTES;
    if (descEnd > this.size) {
      throw new FormatError(
        'page descriptors',
        `${total} descriptors (one per bit of bitmap 2) inside the ${this.size}-byte file`,
        `a table ending at ${hex(descEnd)}`,
        { file: this.path, offset: this.descOffset },
      );
    }
    return (this.rank = rank);
  }

  private descIndex(pfn: number): number {
    // Walking in frame order (convert, re-filtering) advances a cursor instead of counting a block prefix.
    const c = this.cursor;
    if (pfn >= c.pfn && pfn - c.pfn <= 256) {
      let index = c.index;
      for (let p = c.pfn; p < pfn; p++) if (this.bit(2, p)) index++;
      this.cursor = { pfn, index };
      return index;
    }
    const index = this.rankedIndex(pfn);
    this.cursor = { pfn, index };
    return index;
  }

  private rankedIndex(pfn: number): number {
    const rank = this.rankIndex();
    const bitsPerBlock = this.pageSize * 8;
    const block = Math.floor(pfn / bitsPerBlock);
    const rel = pfn - block * bitsPerBlock;
    const bytes = this.bitmapBlock(2, block);
    let n = rank[block];
    const whole = rel >> 3;
    for (let i = 0; i < whole; i++) n += POPCOUNT[bytes[i]];
    n += POPCOUNT[bytes[whole] & ((1 << (rel & 7)) - 1)];
    return n;
  }

  private descriptor(index: number): PageDesc {
    const total = this.rankIndex()[this.rankIndex().length - 1];
    let cache = this.descCache;
    if (!cache || index < cache.first || index >= cache.first + cache.buf.length / PAGE_DESC_BYTES) {
      const first = index - (index % DESC_CACHE_ENTRIES);
      const count = Math.min(DESC_CACHE_ENTRIES, total - first);
      cache = this.descCache = { first, buf: this.readAt(this.descOffset + first * PAGE_DESC_BYTES, count * PAGE_DESC_BYTES) };
    }
    const rel = (index - cache.first) * PAGE_DESC_BYTES;
    return decodePageDesc(cache.buf, rel, { file: this.path, offset: this.descOffset + cache.first * PAGE_DESC_BYTES });
  }

  private readAt(position: number, length: number): Uint8Array {
    return readExactly(this.openFd(), this.path, position, length);
  }

  private openFd(): number {
    if (this.fd === undefined) throw new IoError('file is already closed', { file: this.path });
    return this.fd;
  }
}
