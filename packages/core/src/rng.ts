/**
 * Seeded randomness. Everything random in a run draws from here, so the same seed gives the
 * same bytes on every machine. xoshiro128** (Blackman & Vigna) on 32-bit integer arithmetic,
 * seeded through splitmix32; `mix32` derives independent streams and stateless page seeds.
 */

/** A stateless 32-bit mix of several integers (murmur3 finaliser over a rolling combination). */
export function mix32(...values: number[]): number {
  let h = 0x9e3779b9;
  for (const v of values) {
    // Fold numbers above 2^32 in as two halves so 1 TiB frame numbers stay distinct.
    const lo = v >>> 0;
    const hi = Math.floor(v / 0x100000000) >>> 0;
    h = Math.imul(h ^ lo, 0x85ebca6b);
    h = (h << 13) | (h >>> 19);
    h = Math.imul(h ^ hi, 0xc2b2ae35);
    h = (h << 17) | (h >>> 15);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function splitmix32(state: number): [number, number] {
  const s = (state + 0x9e3779b9) | 0;
  let z = s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  z ^= z >>> 16;
  return [s, z >>> 0];
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, ...stream: number[]) {
    let s = mix32(seed, ...stream);
    let v: number;
    [s, v] = splitmix32(s);
    this.a = v;
    [s, v] = splitmix32(s);
    this.b = v;
    [s, v] = splitmix32(s);
    this.c = v;
    [s, v] = splitmix32(s);
    this.d = v;
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  /** Next unsigned 32-bit integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** Uniform float in [0, 1). */
  next(): number {
    return this.nextU32() / 0x100000000;
  }

  /** Uniform integer in [0, n) for n up to 2^53. */
  below(n: number): number {
    if (n <= 0x100000000) return Math.floor(this.next() * n);
    // An exact 53-bit draw, rejecting the top sliver that would bias `% n`.
    const limit = 2 ** 53 - (2 ** 53 % n);
    for (;;) {
      const x = (this.nextU32() >>> 11) * 0x100000000 + this.nextU32();
      if (x < limit) return x % n;
    }
  }

  /** Integer in [lo, hi]. */
  between(lo: number, hi: number): number {
    return lo + this.below(hi - lo + 1);
  }

  /** A random 64-bit value as bigint. */
  nextU64(): bigint {
    return (BigInt(this.nextU32()) << 32n) | BigInt(this.nextU32());
  }

  /** Fills a byte array with random bytes. */
  fill(bytes: Uint8Array): void {
    let i = 0;
    for (; i + 4 <= bytes.length; i += 4) {
      const v = this.nextU32();
      bytes[i] = v & 0xff;
      bytes[i + 1] = (v >>> 8) & 0xff;
      bytes[i + 2] = (v >>> 16) & 0xff;
      bytes[i + 3] = v >>> 24;
    }
    for (; i < bytes.length; i++) bytes[i] = this.nextU32() & 0xff;
  }

  /** `n` random bytes, a new array (a `random` source for code that asks for byte counts). */
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    this.fill(b);
    return b;
  }

  /** An independent generator for a named sub-stream (so adding draws in one place does not shift another). */
  fork(...stream: number[]): Rng {
    return new Rng(this.nextU32(), ...stream);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** Stable 32-bit hash of a string, for turning names into stream ids. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
