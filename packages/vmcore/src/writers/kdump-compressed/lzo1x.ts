import { FormatError } from '@efikdump/core/base';
import type { ErrorPlace } from '@efikdump/core';

/** A run of zero bytes extending a length may not exceed this (Linux lib/lzo MAX_255_COUNT, for 4 KiB..64 KiB output). */
const MAX_255_RUN = 1 << 16;

/**
 * LZO1X decompression as Linux lib/lzo/lzo1x_decompress_safe.c and liblzo2's
 * lzo1x_decompress_safe do it (what makedumpfile `-l` pages hold): every input read, output
 * write and back-reference is checked, and output never exceeds `maxOut` bytes. Any violation is
 * a FormatError at `where`; the result is what was produced up to the end-of-stream marker.
 */
export function lzo1xDecompress(src: Uint8Array, maxOut: number, where: ErrorPlace): Uint8Array {
  const out = new Uint8Array(maxOut);
  const fail = (why: string): never => {
    throw new FormatError('lzo page data', 'a well-formed LZO1X stream', why, where);
  };
  let ip = 0;
  let op = 0;
  const byte = (): number => (ip < src.length ? src[ip++] : fail(`input ends at byte ${ip}`));
  const literals = (n: number): void => {
    if (ip + n > src.length) fail(`a literal run of ${n} bytes past the end of the input`);
    if (op + n > maxOut) fail(`output longer than ${maxOut} bytes`);
    out.set(src.subarray(ip, ip + n), op);
    ip += n;
    op += n;
  };
  const copyMatch = (distance: number, length: number): void => {
    const from = op - distance;
    if (from < 0) fail(`a match ${distance} bytes back from output byte ${op}`);
    if (op + length > maxOut) fail(`output longer than ${maxOut} bytes`);
    for (let i = 0; i < length; i++) out[op + i] = out[from + i];
    op += length;
  };
  /** Length extension: a zero byte adds 255, the first non-zero byte ends it. */
  const extend = (base: number): number => {
    let zeros = 0;
    while (true) {
      const b = byte();
      if (b !== 0) return base + zeros * 255 + b;
      if (++zeros > MAX_255_RUN) fail('a length extension longer than the output can be');
    }
  };

  if (src.length < 3) fail(`${src.length} bytes of input`);
  // state: literals copied after the previous instruction (0, 1..3, or 4 for a longer run)
  let state = 0;
  let t = byte();
  if (t > 17) {
    t -= 17;
    literals(t);
    state = t < 4 ? t : 4;
    t = byte();
  }
  for (;;) {
    let length: number;
    let distance: number;
    let next: number;
    if (t < 16) {
      if (state === 0) {
        literals(t === 0 ? extend(15) + 3 : t + 3);
        state = 4;
        t = byte();
        continue;
      }
      next = t & 3;
      if (state !== 4) {
        distance = 1 + (t >> 2) + (byte() << 2);
        length = 2;
      } else {
        distance = 1 + 0x800 + (t >> 2) + (byte() << 2);
        length = 3;
      }
    } else if (t >= 64) {
      next = t & 3;
      distance = 1 + ((t >> 2) & 7) + (byte() << 3);
      length = (t >> 5) + 1;
    } else if (t >= 32) {
      length = (t & 31) === 0 ? extend(31) + 2 : (t & 31) + 2;
      const lo = byte();
      const word = lo | (byte() << 8);
      distance = 1 + (word >> 2);
      next = word & 3;
    } else {
      length = (t & 7) === 0 ? extend(7) + 2 : (t & 7) + 2;
      const lo = byte();
      const word = lo | (byte() << 8);
      distance = ((t & 8) << 11) + (word >> 2);
      next = word & 3;
      if (distance === 0) {
        // end of stream: M4 with zero distance, length 3
        if (length !== 3) fail('an end-of-stream marker with a bad length');
        if (ip !== src.length) fail(`${src.length - ip} bytes after the end-of-stream marker`);
        return out.subarray(0, op);
      }
      distance += 0x4000;
    }
    copyMatch(distance, length);
    literals(next);
    state = next;
    t = byte();
  }
}
