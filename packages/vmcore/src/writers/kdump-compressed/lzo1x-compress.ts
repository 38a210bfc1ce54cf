/**
 * LZO1X-1 compression of one page, written for efikdump: the stream format that liblzo2's
 * lzo1x_decompress_safe, Linux's lib/lzo and our own lzo1xDecompress read (makedumpfile `-l`
 * pages), produced the way LZO1X-1 finds its matches: a hash of the next four bytes names one
 * earlier position (the newest with that hash); a match is taken when those four bytes are equal
 * and extended as far as it goes; nothing inside a match is hashed; the search steps further apart
 * the longer it finds nothing, so incompressible stretches cost little. The step is
 * 1 + literals/16 where liblzo2 takes 1 + literals/32: measured on the benchmark's pages
 * (docs/performance.md), 18 % less time for 1.6 % more output (1/8: 43 % less time, 8 % more
 * output). The last 20 bytes are literals. Only the "version 0" bitstream is written (no run-length extension of
 * newer Linux kernels, which liblzo2 does not read).
 *
 * The function must stay self-contained (no imports, no closures over module state): the
 * compression workers receive its source text (see compress-pool.ts).
 *
 * @param src     input bytes; the page is src[at, at + len)
 * @param dst     output; written from 0, needs len + len / 16 + 64 + 3 bytes in the worst case
 * @param dict    hash table of 2^14 entries, reused across calls (see `base`)
 * @param base    a number added to every position stored in `dict`; entries below it are stale.
 *                Give each call a base at least `len` above the previous one and clear `dict`
 *                (fill 0) before the base would pass 2^31 - len; with base > 0 a fresh table needs no clearing.
 * @returns the number of bytes written to dst
 */
export function lzo1x1Compress(src: Uint8Array, at: number, len: number, dst: Uint8Array, dict: Int32Array, base: number): number {
  const HASH_SHIFT = 32 - 14;
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  const end = at + len;
  const limit = end - 20;
  let op = 0;
  let lit = at; // start of the literals not yet written
  let ip = at;
  // Writes the literals [lit, stop) before a match (or the end); returns nothing, moves op.
  // Literal-run encodings: at the very start 17 + n (n <= 238); after a match, 1..3 literals go in
  // the low bits of the match's second-last byte; otherwise n - 3 (4..18) or 0 then 255-steps.
  if (len > 20) {
    ip = at + 1;
    for (;;) {
      if (ip > limit) break;
      const dv = view.getUint32(ip, true);
      const h = Math.imul(dv, 0x1824429d) >>> HASH_SHIFT;
      const stored = dict[h];
      dict[h] = base + (ip - at);
      const cand = stored - base + at;
      const dist = ip - cand;
      if (stored < base || dist <= 0 || dist > 0xbfff || view.getUint32(cand, true) !== dv) {
        ip += 1 + ((ip - lit) >> 4);
        continue;
      }
      // Literals before the match.
      const n = ip - lit;
      if (n > 0) {
        if (op === 0 && n <= 238) {
          dst[op++] = 17 + n;
        } else if (n <= 3) {
          dst[op - 2] |= n;
        } else if (n <= 18) {
          dst[op++] = n - 3;
        } else {
          let rest = n - 18;
          dst[op++] = 0;
          while (rest > 255) {
            dst[op++] = 0;
            rest -= 255;
          }
          dst[op++] = rest;
        }
        if (n < 32) for (let i = 0; i < n; i++) dst[op + i] = src[lit + i];
        else dst.set(src.subarray(lit, ip), op);
        op += n;
      }
      // Extend the match (at least 4 bytes long), four bytes at a time, then byte by byte.
      let m = ip + 4;
      let c = cand + 4;
      while (m <= end - 4 && view.getUint32(m, true) === view.getUint32(c, true)) {
        m += 4;
        c += 4;
      }
      while (m < end && src[m] === src[c]) {
        m++;
        c++;
      }
      const mlen = m - ip;
      if (mlen <= 8 && dist <= 0x800) {
        const d = dist - 1;
        dst[op++] = ((mlen - 1) << 5) | ((d & 7) << 2);
        dst[op++] = d >> 3;
      } else if (dist <= 0x4000) {
        const d = dist - 1;
        if (mlen <= 33) {
          dst[op++] = 32 | (mlen - 2);
        } else {
          let rest = mlen - 33;
          dst[op++] = 32;
          while (rest > 255) {
            dst[op++] = 0;
            rest -= 255;
          }
          dst[op++] = rest;
        }
        dst[op++] = (d << 2) & 0xff;
        dst[op++] = d >> 6;
      } else {
        const d = dist - 0x4000;
        const hi = (d & 0x4000) >> 11;
        if (mlen <= 9) {
          dst[op++] = 16 | hi | (mlen - 2);
        } else {
          let rest = mlen - 9;
          dst[op++] = 16 | hi;
          while (rest > 255) {
            dst[op++] = 0;
            rest -= 255;
          }
          dst[op++] = rest;
        }
        dst[op++] = (d << 2) & 0xff;
        dst[op++] = (d >> 6) & 0xff;
      }
      ip = m;
      lit = m;
    }
  }
  // Trailing literals, then the end-of-stream marker (M4 of length 3 at distance 0).
  const n = end - lit;
  if (n > 0) {
    if (op === 0 && n <= 238) {
      dst[op++] = 17 + n;
    } else if (n <= 3) {
      dst[op - 2] |= n;
    } else if (n <= 18) {
      dst[op++] = n - 3;
    } else {
      let rest = n - 18;
      dst[op++] = 0;
      while (rest > 255) {
        dst[op++] = 0;
        rest -= 255;
      }
      dst[op++] = rest;
    }
    dst.set(src.subarray(lit, end), op);
    op += n;
  }
  dst[op++] = 0x11;
  dst[op++] = 0;
  dst[op++] = 0;
  return op;
}

/** Worst-case output of lzo1x1Compress for `len` input bytes (liblzo2's bound). */
export const lzo1xBound = (len: number): number => len + (len >> 4) + 64 + 3;

/** Entries of the hash table lzo1x1Compress takes. */
export const LZO1X1_DICT_ENTRIES = 1 << 14;
