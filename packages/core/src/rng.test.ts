import fc from 'fast-check';
import { hashString, mix32, Rng } from './rng';

const draws = (rng: Rng, n: number): number[] => Array.from({ length: n }, () => rng.nextU32());

describe('Rng', () => {
  it('gives the same sequence for the same seed and stream', () => {
    expect(draws(new Rng(1234), 1000)).toEqual(draws(new Rng(1234), 1000));
    expect(draws(new Rng(1234, 7, 9), 1000)).toEqual(draws(new Rng(1234, 7, 9), 1000));
  });

  it('gives different sequences for different seeds or streams', () => {
    fc.assert(
      fc.property(fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff }), (a, b) => {
        fc.pre(a !== b);
        expect(draws(new Rng(a), 4)).not.toEqual(draws(new Rng(b), 4));
      }),
    );
    expect(draws(new Rng(1, 1), 4)).not.toEqual(draws(new Rng(1, 2), 4));
    expect(draws(new Rng(1), 4)).not.toEqual(draws(new Rng(1, 0), 4));
  });

  it('draws unsigned 32-bit integers', () => {
    const values = draws(new Rng(99), 10_000);
    expect(values.filter((v) => !Number.isInteger(v) || v < 0 || v > 0xffffffff)).toEqual([]);
    // Both halves of the range are used (a signed result would put half of them below zero).
    expect(values.some((v) => v >= 2 ** 31)).toBe(true);
  });

  it('keeps below(n) in [0, n) and integral for n up to 2^53', () => {
    const edges = [1, 2, 3, 1000, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 40, 2 ** 52 + 1, 2 ** 53 - 1, 2 ** 53];
    const rng = new Rng(5);
    for (const n of edges) {
      for (let i = 0; i < 2000; i++) {
        const x = rng.below(n);
        if (!Number.isSafeInteger(x) || x < 0 || x >= n) throw new Error(`below(${n}) gave ${x}`);
      }
    }
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 53 }), fc.nat(), (n, seed) => {
        const r = new Rng(seed);
        for (let i = 0; i < 50; i++) {
          const x = r.below(n);
          expect(Number.isSafeInteger(x) && x >= 0 && x < n).toBe(true);
        }
      }),
    );
    expect(draws(new Rng(1), 0)).toEqual([]);
    const one = new Rng(3);
    for (let i = 0; i < 100; i++) expect(one.below(1)).toBe(0);
  });

  it('reaches both ends of a small range', () => {
    const rng = new Rng(11);
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) seen.add(rng.below(4));
    expect([...seen].sort()).toEqual([0, 1, 2, 3]);
    const between = new Set<number>();
    for (let i = 0; i < 1000; i++) between.add(rng.between(-2, 2));
    expect([...between].sort((a, b) => a - b)).toEqual([-2, -1, 0, 1, 2]);
  });

  it('below(n) for n above 2^32 is uniform in its low bits', () => {
    const rng = new Rng(21);
    let odd = 0;
    const n = 4000;
    for (let i = 0; i < n; i++) odd += rng.below(2 ** 53) % 2;
    expect(odd / n).toBeGreaterThan(0.45);
    expect(odd / n).toBeLessThan(0.55);
  });

  it('forks an independent stream that shifts the parent by exactly one draw', () => {
    const parent = new Rng(7);
    const twin = new Rng(7);
    const child = parent.fork(3);
    draws(child, 1000); // however much the fork draws ...
    twin.nextU32(); // ... the parent moved by the one draw that seeded it.
    expect(draws(parent, 100)).toEqual(draws(twin, 100));
  });

  it('forks reproducibly, and differently per stream id', () => {
    expect(draws(new Rng(7).fork(3), 50)).toEqual(draws(new Rng(7).fork(3), 50));
    expect(draws(new Rng(7).fork(3), 50)).not.toEqual(draws(new Rng(7).fork(4), 50));
    // The fork is not the parent's own continuation.
    const p = new Rng(7);
    const f = p.fork(3);
    expect(draws(f, 50)).not.toEqual(draws(p, 50));
  });

  it('spreads next() roughly uniformly over [0, 1): each of 10 buckets within 5% of 10k in 100k draws', () => {
    const rng = new Rng(2024);
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 100_000; i++) {
      const x = rng.next();
      if (!(x >= 0 && x < 1)) throw new Error(`next() gave ${x}`);
      buckets[Math.floor(x * 10)]++;
    }
    // Binomial sd per bucket is ~95, so +-500 is more than 5 sd: a fair generator always passes.
    for (const count of buckets) {
      expect(count).toBeGreaterThanOrEqual(9500);
      expect(count).toBeLessThanOrEqual(10_500);
    }
  });

  it('fills byte arrays reproducibly, including a tail shorter than 4 bytes', () => {
    const a = new Uint8Array(4099);
    const b = new Uint8Array(4099);
    new Rng(8).fill(a);
    new Rng(8).fill(b);
    expect(a).toEqual(b);
    // 4099 random bytes are not all zero, and the 3-byte tail is written too.
    expect(a.some((x) => x !== 0)).toBe(true);
    const tails = new Set<number>();
    for (let s = 0; s < 20; s++) {
      const t = new Uint8Array(3);
      new Rng(s).fill(t);
      tails.add(t[0] | (t[1] << 8) | (t[2] << 16));
    }
    expect(tails.size).toBeGreaterThan(1);
  });

  it('bytes(n) is a new array filled as fill fills one, drawing from the same stream', () => {
    const a = new Rng(9);
    const b = new Rng(9);
    const filled = new Uint8Array(37);
    b.fill(filled);
    const got = a.bytes(37);
    expect(got).toHaveLength(37);
    expect(got).toEqual(filled);
    expect(a.nextU32()).toBe(b.nextU32());
  });

  it('builds nextU64 from two 32-bit draws, high word first', () => {
    const a = new Rng(77);
    const b = new Rng(77);
    const v = a.nextU64();
    const hi = BigInt(b.nextU32());
    const lo = BigInt(b.nextU32());
    expect(v).toBe((hi << 32n) | lo);
    expect(v >= 0n && v < 2n ** 64n).toBe(true);
  });
});

describe('mix32', () => {
  it('is a deterministic unsigned 32-bit function', () => {
    fc.assert(
      fc.property(fc.array(fc.maxSafeNat(), { maxLength: 5 }), (values) => {
        const h = mix32(...values);
        expect(h).toBe(mix32(...values));
        expect(Number.isInteger(h) && h >= 0 && h <= 0xffffffff).toBe(true);
      }),
    );
  });

  it('distinguishes values above 2^32 from their low 32 bits', () => {
    expect(mix32(1, 2 ** 32)).not.toBe(mix32(1, 0));
    expect(mix32(1, 2 ** 40 + 5)).not.toBe(mix32(1, 5));
    fc.assert(
      fc.property(fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff }), fc.integer({ min: 1, max: 0x1fffff }), (seed, lo, hiPart) => {
        expect(mix32(seed, lo + hiPart * 2 ** 32)).not.toBe(mix32(seed, lo));
      }),
    );
  });

  it('depends on the order and the number of its arguments', () => {
    expect(mix32(1, 2)).not.toBe(mix32(2, 1));
    expect(mix32(1)).not.toBe(mix32(1, 0));
  });

  it('has no collisions over 100k consecutive frame numbers', () => {
    const seen = new Set<number>();
    for (let pfn = 0; pfn < 100_000; pfn++) seen.add(mix32(42, pfn, 0));
    // A random 32-bit function would expect about 1.2 collisions here; allow a few.
    expect(seen.size).toBeGreaterThanOrEqual(100_000 - 5);
  });
});

describe('hashString', () => {
  it('is 32-bit FNV-1a (published test vectors)', () => {
    expect(hashString('')).toBe(0x811c9dc5);
    expect(hashString('a')).toBe(0xe40c292c);
    expect(hashString('foobar')).toBe(0xbf9cf968);
  });

  it('gives different stream ids to different names', () => {
    expect(hashString('truth')).not.toBe(hashString('workload'));
  });
});
