import { createHash } from 'node:crypto';
import { FormatError, type TruthManifest } from '@efikdump/core';

/** Bytes of a page; the lab's guests are x86_64 with 4 KiB pages. */
export const PAGE_BYTES = 4096;
/** "EKDPATT1": the first 8 bytes of every pattern page (tools/lab/guest/efikdump-guest.c). */
export const PATTERN_PAGE_MAGIC = 0x3154544150444b45n;
/** "EKDPFN01": the header of the frame list the pattern writer puts at offset 0 of the data disk. */
export const PFN_LIST_MAGIC = 0x31304e4650444b45n;

/**
 * The bytes of pattern page `index` for `seed`, as the guest's pattern writer fills it: u64 magic,
 * u64 seed, u64 index, then xorshift32 words seeded from (seed, index).
 */
export function patternPage(seed: number, index: number, out: Uint8Array = new Uint8Array(PAGE_BYTES)): Uint8Array {
  const v = new DataView(out.buffer, out.byteOffset, PAGE_BYTES);
  v.setBigUint64(0, PATTERN_PAGE_MAGIC, true);
  v.setBigUint64(8, BigInt(seed), true);
  v.setBigUint64(16, BigInt(index), true);
  let x = (Math.imul(seed >>> 0, 0x9e3779b9) ^ Math.imul(index >>> 0, 0x85ebca6b) ^ 0x2545f491) >>> 0;
  if (x === 0) x = 1;
  for (let i = 6; i < PAGE_BYTES / 4; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    v.setUint32(i * 4, x, true);
  }
  return out;
}

/** The frame list the guest wrote: page index → PFN (0 when the page was not present). */
export interface PatternFrames {
  seed: number;
  pfns: number[];
}

/** Decodes the frame list at the start of the data disk. */
export function decodePatternFrames(bytes: Uint8Array, file: string): PatternFrames {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 16) throw new FormatError('pattern frame list', 'at least 16 bytes', `${bytes.length} bytes`, { file, offset: 0 });
  const magic = v.getBigUint64(0, true);
  if (magic !== PFN_LIST_MAGIC)
    throw new FormatError('pattern frame list magic', '"EKDPFN01"', `0x${magic.toString(16)}`, { file, offset: 0 });
  const count = v.getUint32(8, true);
  const seed = v.getUint32(12, true);
  if (16 + 8 * count > bytes.length)
    throw new FormatError('pattern frame list', `${count} entries`, `${Math.floor((bytes.length - 16) / 8)} entries in the bytes read`, {
      file,
      offset: 8,
    });
  const pfns: number[] = [];
  for (let i = 0; i < count; i++) pfns.push(Number(v.getBigUint64(16 + 8 * i, true)));
  return { seed, pfns };
}

/** A seeded, sorted sample of `count` distinct indices below `n` (xorshift32, so the same seed gives the same sample). */
export function sampleIndices(n: number, count: number, seed: number): number[] {
  if (count >= n) return Array.from({ length: n }, (_, i) => i);
  const chosen = new Set<number>();
  let x = (seed ^ 0x6a09e667) >>> 0 || 1;
  while (chosen.size < count) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    chosen.add(x % n);
  }
  return [...chosen].sort((a, b) => a - b);
}

/** The truth manifest (efikdump-truth/1) for a sample of the pattern pages; the crash region is excluded. */
export function patternTruth(frames: PatternFrames, sampleSize: number, excluded: [number, number][]): TruthManifest {
  const page = new Uint8Array(PAGE_BYTES);
  const pages = sampleIndices(frames.pfns.length, sampleSize, frames.seed)
    .filter((i) => frames.pfns[i] !== 0)
    .map((i) => ({
      paddr: frames.pfns[i] * PAGE_BYTES,
      sha256: createHash('sha256')
        .update(patternPage(frames.seed, i, page))
        .digest('hex'),
    }))
    .sort((a, b) => a.paddr - b.paddr);
  return { format: 'efikdump-truth/1', pageSize: PAGE_BYTES, pages, zeroPages: [], excluded };
}
