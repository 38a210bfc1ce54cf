import fc from 'fast-check';
import { expectSameBytes } from '../../testing/run-context';
import { frameBytes } from '../../testing/vmcore-image';
import { lzo1xDecompress } from './lzo1x';
import { LZO1X1_DICT_ENTRIES, lzo1x1Compress, lzo1xBound } from './lzo1x-compress';

/** Compresses `data` (at an offset inside a larger buffer, as the workers do) and checks the round trip. */
function roundTrip(data: Uint8Array, dict = new Int32Array(LZO1X1_DICT_ENTRIES), base = 1): Uint8Array {
  const src = new Uint8Array(data.length + 13);
  src.set(data, 7);
  const dst = new Uint8Array(lzo1xBound(data.length));
  const n = lzo1x1Compress(src, 7, data.length, dst, dict, base);
  expect(n).toBeLessThanOrEqual(lzo1xBound(data.length));
  const stream = dst.subarray(0, n);
  expectSameBytes(lzo1xDecompress(stream, data.length, { file: 'test' }), data);
  return stream;
}

const bytes = (n: number, f: (i: number) => number) => Uint8Array.from({ length: n }, (_, i) => f(i) & 0xff);
let seed = 99;
const noise = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24;

describe('lzo1x1Compress', () => {
  test("the simulator's page kinds round-trip; text and kernel objects shrink, random data grows by at most the bound", () => {
    for (const kind of ['text', 'slab', 'random'] as const) {
      const page = frameBytes(kind, 1234);
      const stream = roundTrip(page);
      if (kind === 'random') expect(stream.length).toBeGreaterThan(page.length);
      else expect(stream.length).toBeLessThan(page.length * 0.8);
    }
  });

  test('a zero page is a few bytes: one long match (a 255-step length extension) after a few literals', () => {
    const stream = roundTrip(new Uint8Array(4096));
    expect(stream.length).toBeLessThan(40);
    expect(stream[0] - 17).toBeGreaterThanOrEqual(1); // literals at the start: 17 + n
    expect(stream[0] - 17).toBeLessThanOrEqual(3);
    expect(Array.from(stream.subarray(-3))).toEqual([0x11, 0, 0]); // end-of-stream marker
  });

  test.each([
    ['under 21 bytes: all literals', bytes(20, (i) => i * 7)],
    ['one byte', bytes(1, () => 42)],
    [
      'literal runs of 4..18, 19..273 and longer between matches',
      (() => {
        const out: number[] = [];
        for (const run of [2, 3, 4, 18, 19, 200, 273, 274, 600]) {
          for (let i = 0; i < run; i++) out.push(noise());
          for (let i = 0; i < 40; i++) out.push('repeat-me!'.charCodeAt(i % 10));
        }
        return Uint8Array.from(out);
      })(),
    ],
    ['more than 238 literals at the start', Uint8Array.from([...bytes(300, noise), ...new Uint8Array(100)])],
    [
      'matches of every length band (M2 3..8, M3 up to 33, extended)',
      (() => {
        const out: number[] = [];
        for (const len of [4, 8, 9, 33, 34, 288, 289, 700]) {
          const chunk = bytes(len, noise);
          out.push(...chunk, ...bytes(5, noise), ...chunk);
        }
        return Uint8Array.from(out);
      })(),
    ],
    [
      'matches farther than 16 KiB (M4) in a 64 KiB page',
      (() => {
        const head = bytes(2000, noise);
        return Uint8Array.from([...head, ...bytes(30000, noise), ...head, ...bytes(65536 - 34000, noise)]);
      })(),
    ],
  ])('%s', (_name, data) => {
    roundTrip(data);
  });

  test('one hash table serves page after page through a rising base, and a cleared table restarts at base 1', () => {
    const dict = new Int32Array(LZO1X1_DICT_ENTRIES);
    const pages = [frameBytes('text', 1), frameBytes('slab', 2), frameBytes('text', 3)];
    const alone = pages.map((p) => roundTrip(p));
    let base = 1;
    pages.forEach((p, i) => {
      expectSameBytes(roundTrip(p, dict, base), alone[i]); // stale entries of earlier pages are never used
      base += p.length;
    });
  });

  test('a stream written at an offset of dst (dstAt) is the same stream, and the bytes before it are untouched', () => {
    const page = frameBytes('slab', 77);
    const alone = roundTrip(page);
    const dst = new Uint8Array(100 + lzo1xBound(page.length)).fill(0xa5);
    const n = lzo1x1Compress(page, 0, page.length, dst, new Int32Array(LZO1X1_DICT_ENTRIES), 1, 100);
    expectSameBytes(dst.subarray(100, 100 + n), alone);
    expect(dst.subarray(0, 100).every((b) => b === 0xa5)).toBe(true);
  });

  test('any bytes round-trip (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ minLength: 1, maxLength: 5000 }),
          // runs of a few symbols: many matches at every distance
          fc
            .array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 300 })), { minLength: 1, maxLength: 60 })
            .map((runs) => Uint8Array.from(runs.flatMap(([v, n]) => Array.from({ length: n }, (_, i) => (v * 17 + (i % (v + 1))) & 0xff)))),
        ),
        (data) => {
          roundTrip(data);
        },
      ),
      { numRuns: 300 },
    );
  });
});
