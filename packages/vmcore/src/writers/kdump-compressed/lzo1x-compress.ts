/**
 * LZO1X-1 compression of one page, written for efikdump: the stream format that liblzo2's
 * lzo1x_decompress_safe, Linux's lib/lzo and our own lzo1xDecompress read (makedumpfile `-l`
 * pages), produced the way LZO1X-1 finds its matches: a hash of the next four bytes names one
 * earlier position (the newest with that hash); a match is taken when those four bytes are equal
 * and extended as far as it goes; nothing inside a match is hashed; the search steps further apart
 * the longer it finds nothing, so incompressible stretches cost little. The step is
 * 1 + literals/8 where liblzo2 takes 1 + literals/32: measured on the pages the benchmark keeps at
 * -d 31 (kernel code and slab; docs/performance.md), 4.3 µs a page against 8.2 µs for
 * literals/32 and 6.3 µs for literals/16, for an output 3.0 % larger than liblzo2's (literals/16:
 * 1.1 %; literals/4: 3.5 µs but 4.0 %, too close to the 5 % the issue allows). The last 20 bytes
 * are literals. Only the "version 0" bitstream is written (no run-length extension of
 * newer Linux kernels, which liblzo2 does not read).
 *
 * The function must stay self-contained (no imports, no closures over module state): the
 * compression workers receive its source text (see compress-pool.ts).
 *
 * @param src     input bytes; the page is src[at, at + len)
 * @param dst     output; written from dstAt, needs len + len / 16 + 64 + 3 bytes in the worst case
 * @param dict    hash table of 2^14 entries, reused across calls (see `base`)
 * @param base    a number added to every position stored in `dict`; entries below it are stale.
 *                Give each call a base at least `len` above the previous one and clear `dict`
 *                (fill 0) before the base would pass 2^31 - len; with base > 0 a fresh table needs no clearing.
 * @param dstAt   where in dst the stream starts (the workers compress straight into a batch's output)
 * @returns the number of bytes written to dst from dstAt
 */
export function lzo1x1Compress(
  src: Uint8Array,
  at: number,
  len: number,
  dst: Uint8Array,
  dict: Int32Array,
  base: number,
  dstAt = 0,
): number {
  const HASH_SHIFT = 32 - 14;
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  const end = at + len;
  const limit = end - 20;
  let op = dstAt;
  let lit = at; // start of the literals not yet written
  let ip = at + 1;
  let cand = 0;
  // One loop for every literal run, the trailing one included: the literal encoder is one piece of
  // code, so the JIT's feedback for it is complete after the first pages (a separate copy for the
  // trailing run deoptimised the compiled loop on every page for a long while: docs/performance.md).
  for (;;) {
    // Look for a match from ip; none before `limit` leaves the rest as literals.
    let found = false;
    while (ip <= limit) {
      const dv = view.getUint32(ip, true);
      const h = Math.imul(dv, 0x1824429d) >>> HASH_SHIFT;
      const stored = dict[h];
      dict[h] = base + (ip - at);
      // Entries below base are stale (earlier calls); this call's entries lie before ip.
      cand = stored - base + at;
      if (stored >= base && ip - cand <= 0xbfff && view.getUint32(cand, true) === dv) {
        found = true;
        break;
      }
      ip += 1 + ((ip - lit) >> 3);
    }
    const stop = found ? ip : end;
    // Literal-run encodings: at the very start 17 + n (n <= 238); after a match, 1..3 literals go in
    // the low bits of the match's second-last byte; otherwise n - 3 (4..18) or 0 then 255-steps.
    const n = stop - lit;
    if (n > 0) {
      if (op === dstAt && n <= 238) {
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
      else dst.set(src.subarray(lit, stop), op);
      op += n;
    }
    if (!found) break;
    // Extend the match (at least 4 bytes long), four bytes at a time, then byte by byte.
    const dist = ip - cand;
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
  // The end-of-stream marker: M4 of length 3 at distance 0.
  dst[op++] = 0x11;
  dst[op++] = 0;
  dst[op++] = 0;
  return op - dstAt;
}

/** Worst-case output of lzo1x1Compress for `len` input bytes (liblzo2's bound). */
export const lzo1xBound = (len: number): number => len + (len >> 4) + 64 + 3;

/** Entries of the hash table lzo1x1Compress takes. */
export const LZO1X1_DICT_ENTRIES = 1 << 14;
