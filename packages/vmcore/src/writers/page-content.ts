/**
 * Quick tests of a page's content that decide how it is written: all zero (a shared zero page or
 * a hole), or random-looking (stored raw without trying to compress it).
 */

/**
 * True when `len` bytes of `buf` from `offset` are all zero (`zero`: at least `len` zero bytes).
 * Most pages with data have a non-zero byte among their first 16, so the memcmp against the zero
 * block runs only for pages likely to be zero.
 */
export function isZeroRange(buf: Buffer, offset: number, len: number, zero: Buffer): boolean {
  const head = Math.min(16, len);
  for (let i = 0; i < head; i++) if (buf[offset + i] !== 0) return false;
  return buf.compare(zero, 0, len, offset, offset + len) === 0;
}

/**
 * Distinct values among 256 sampled bytes from which a page is taken for random data and stored
 * raw untried. Random bytes give about 162 (σ ≈ 5); text, code and kernel objects well under 100.
 */
export const RANDOM_PAGE_DISTINCT = 150;

const seen = new Uint8Array(256);

/**
 * Whether the page at `offset` looks like random data: at least `threshold` distinct values among
 * 256 bytes sampled at even steps. Deflate at level 1 cannot shrink such a page; makedumpfile
 * would try and then store it raw, we store it raw without trying. A misjudged page is only
 * stored raw (bigger, never wrong).
 */
export function looksRandom(buf: Uint8Array, offset: number, pageSize: number, threshold = RANDOM_PAGE_DISTINCT): boolean {
  seen.fill(0);
  let distinct = 0;
  const step = Math.max(1, pageSize >> 8);
  for (let i = offset; i < offset + pageSize; i += step) {
    const b = buf[i];
    if (!seen[b]) {
      seen[b] = 1;
      distinct++;
    }
  }
  return distinct >= threshold;
}
