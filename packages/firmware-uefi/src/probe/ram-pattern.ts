import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { IoError, PAGE_SIZE, mix32 } from '@efikdump/core';

/**
 * The page pattern the probe writes into guest RAM before a reset. Each 4 KiB frame holds:
 * bytes 0..7 the frame number (u64 LE), 8..11 the seed (u32 LE), 12..15 the magic "EKPB", and
 * 16..4095 a seeded body whose 32-bit words are XORed with a per-frame key, so every frame's
 * content is distinct and a page copied to another frame does not pass for intact.
 */
export const PATTERN_MAGIC = 0x42504b45; // "EKPB" read as u32 LE
const HEADER_BYTES = 16;
const WORDS_PER_PAGE = PAGE_SIZE / 4;
/** Pages per positional read/write: 4 MiB keeps syscalls few and buffers small. */
const CHUNK_PAGES = 1024;

/** A run of consecutive overwritten frames, [start, end) in bytes. */
export interface OverwrittenRange {
  start: number;
  end: number;
  pages: number;
  /** Pages of the run that read back as all zeros (firmware cleared them rather than used them). */
  zeroPages: number;
}

export interface RamDiff {
  ranges: OverwrittenRange[];
  pages: number;
  zeroPages: number;
  totalPages: number;
}

/** The seeded body shared by all frames (before the per-frame XOR). */
export function patternBody(seed: number): Uint32Array {
  const body = new Uint32Array(WORDS_PER_PAGE);
  for (let i = HEADER_BYTES / 4; i < WORDS_PER_PAGE; i++) body[i] = mix32(seed, i);
  return body;
}

/** Writes the expected content of frames [firstPfn, firstPfn + pages) into `out`. */
export function writePatternPages(out: Buffer, firstPfn: number, pages: number, seed: number, body = patternBody(seed)): void {
  if (out.length < pages * PAGE_SIZE) throw new RangeError(`pattern buffer of ${out.length} bytes holds fewer than ${pages} pages`);
  if (out.byteOffset % 4 !== 0) throw new RangeError('pattern buffer must be 4-byte aligned');
  const words = new Uint32Array(out.buffer, out.byteOffset, (pages * PAGE_SIZE) / 4);
  const view = new DataView(out.buffer, out.byteOffset, pages * PAGE_SIZE);
  for (let p = 0; p < pages; p++) {
    const pfn = firstPfn + p;
    const key = mix32(seed, pfn, 0x5eed);
    const base = p * WORDS_PER_PAGE;
    for (let i = HEADER_BYTES / 4; i < WORDS_PER_PAGE; i++) words[base + i] = body[i] ^ key;
    const at = p * PAGE_SIZE;
    view.setUint32(at, pfn >>> 0, true);
    view.setUint32(at + 4, Math.floor(pfn / 0x100000000), true);
    view.setUint32(at + 8, seed >>> 0, true);
    view.setUint32(at + 12, PATTERN_MAGIC, true);
  }
}

/**
 * Folds overwritten frame numbers, given in increasing order, into coalesced ranges; a range
 * never spans `breakAt` (where the backing file jumps across the 4 GiB hole).
 */
export class RangeCollector {
  readonly ranges: OverwrittenRange[] = [];
  pages = 0;
  zeroPages = 0;

  constructor(private readonly breakAt?: number) {}

  add(pfn: number, zero: boolean): void {
    const start = pfn * PAGE_SIZE;
    const last = this.ranges[this.ranges.length - 1];
    if (last && last.end > start) throw new RangeError(`frame ${pfn} added out of order`);
    if (last && last.end === start && start !== this.breakAt) {
      last.end += PAGE_SIZE;
      last.pages++;
      if (zero) last.zeroPages++;
    } else {
      this.ranges.push({ start, end: start + PAGE_SIZE, pages: 1, zeroPages: zero ? 1 : 0 });
    }
    this.pages++;
    if (zero) this.zeroPages++;
  }
}

/** Frames of `actual` (starting at `firstPfn`) that differ from the pattern, into `into`. */
export function diffPatternPages(
  actual: Buffer,
  firstPfn: number,
  seed: number,
  into: RangeCollector,
  scratch?: Buffer,
  body = patternBody(seed),
): void {
  const pages = Math.floor(actual.length / PAGE_SIZE);
  const expected =
    scratch && scratch.length >= pages * PAGE_SIZE ? scratch.subarray(0, pages * PAGE_SIZE) : Buffer.alloc(pages * PAGE_SIZE);
  writePatternPages(expected, firstPfn, pages, seed, body);
  if (expected.equals(actual.subarray(0, pages * PAGE_SIZE))) return;
  for (let p = 0; p < pages; p++) {
    const at = p * PAGE_SIZE;
    if (actual.compare(expected, at, at + PAGE_SIZE, at, at + PAGE_SIZE) === 0) continue;
    into.add(firstPfn + p, isZero(actual, at, at + PAGE_SIZE));
  }
}

function isZero(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (buf[i] !== 0) return false;
  return true;
}

function openRam(path: string, flags: string): number {
  try {
    return openSync(path, flags);
  } catch (e) {
    throw new IoError(`cannot open the guest RAM file: ${(e as Error).message}`, { file: path });
  }
}

/** Fills the first `sizeBytes` of the RAM backing file with the pattern (the guest must be paused). */
export function fillRamFile(path: string, sizeBytes: number, seed: number): void {
  checkSize(sizeBytes, path);
  const fd = openRam(path, 'r+');
  const buf = Buffer.alloc(CHUNK_PAGES * PAGE_SIZE);
  const body = patternBody(seed);
  try {
    for (let pfn = 0; pfn * PAGE_SIZE < sizeBytes; pfn += CHUNK_PAGES) {
      const pages = Math.min(CHUNK_PAGES, sizeBytes / PAGE_SIZE - pfn);
      writePatternPages(buf, pfn, pages, seed, body);
      const length = pages * PAGE_SIZE;
      let done = 0;
      while (done < length) done += writeSync(fd, buf, done, length - done, pfn * PAGE_SIZE + done);
    }
  } catch (e) {
    if (e instanceof RangeError) throw e;
    throw new IoError(`cannot write the pattern: ${(e as Error).message}`, { file: path });
  } finally {
    closeSync(fd);
  }
}

/** Compares the RAM backing file with the pattern, page by page; ranges are file offsets, never spanning `breakAt`. */
export function diffRamFile(path: string, sizeBytes: number, seed: number, breakAt?: number): RamDiff {
  checkSize(sizeBytes, path);
  const fd = openRam(path, 'r');
  const actual = Buffer.alloc(CHUNK_PAGES * PAGE_SIZE);
  const expected = Buffer.alloc(CHUNK_PAGES * PAGE_SIZE);
  const body = patternBody(seed);
  const collector = new RangeCollector(breakAt);
  try {
    for (let pfn = 0; pfn * PAGE_SIZE < sizeBytes; pfn += CHUNK_PAGES) {
      const pages = Math.min(CHUNK_PAGES, sizeBytes / PAGE_SIZE - pfn);
      const length = pages * PAGE_SIZE;
      let done = 0;
      while (done < length) {
        const n = readSync(fd, actual, done, length - done, pfn * PAGE_SIZE + done);
        if (n === 0) throw new IoError(`the RAM file ends before ${sizeBytes} bytes`, { file: path, offset: pfn * PAGE_SIZE + done });
        done += n;
      }
      diffPatternPages(actual.subarray(0, length), pfn, seed, collector, expected, body);
    }
  } catch (e) {
    if (e instanceof IoError) throw e;
    throw new IoError(`cannot read the RAM file: ${(e as Error).message}`, { file: path });
  } finally {
    closeSync(fd);
  }
  return { ranges: collector.ranges, pages: collector.pages, zeroPages: collector.zeroPages, totalPages: sizeBytes / PAGE_SIZE };
}

function checkSize(sizeBytes: number, path: string): void {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0 || sizeBytes % PAGE_SIZE !== 0) {
    throw new IoError(`expected a RAM size that is a positive multiple of ${PAGE_SIZE}, found ${sizeBytes}`, { file: path });
  }
}
