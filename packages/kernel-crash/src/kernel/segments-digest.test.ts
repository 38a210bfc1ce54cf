import { MiB, PAGE_SIZE, PhysicalMemory, type PhysRange } from '@efikdump/core';
import { segmentsDigest } from './segments-digest';

const RAM: PhysRange[] = [{ start: 0, end: 256 * MiB }];
const SEGMENTS: PhysRange[] = [
  { start: 64 * MiB, end: 64 * MiB + 64 * PAGE_SIZE },
  { start: 96 * MiB, end: 96 * MiB + 16 * PAGE_SIZE },
];
const INSIDE = SEGMENTS[0].start + 10 * PAGE_SIZE;
const OUTSIDE = 128 * MiB;

/** A machine with loaded segments: an image fill, a written page, and activity elsewhere. */
function loaded(seed = 3): PhysicalMemory {
  const mem = new PhysicalMemory({ seed, ram: RAM });
  mem.fill({ start: SEGMENTS[0].start, end: SEGMENTS[0].start + 32 * PAGE_SIZE }, 'kernel-text', 1, 'capture kernel');
  mem.write(SEGMENTS[1].start, new Uint8Array(PAGE_SIZE).fill(0x42));
  mem.write(OUTSIDE, new Uint8Array(PAGE_SIZE).fill(0x24));
  mem.fill({ start: OUTSIDE + MiB, end: OUTSIDE + 2 * MiB }, 'zero', 0, 'elsewhere');
  return mem;
}

describe('segmentsDigest', () => {
  it('is a SHA-256 in hex', () => {
    expect(segmentsDigest(loaded(), SEGMENTS)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('gives equal digests for equal content', () => {
    expect(segmentsDigest(loaded(), SEGMENTS)).toBe(segmentsDigest(loaded(), SEGMENTS));
    const mem = loaded();
    expect(segmentsDigest(mem, SEGMENTS)).toBe(segmentsDigest(mem, SEGMENTS));
  });

  it('changes when a page inside the ranges is written', () => {
    const mem = loaded();
    const before = segmentsDigest(mem, SEGMENTS);
    mem.write(INSIDE + 100, new Uint8Array([1]));
    expect(segmentsDigest(mem, SEGMENTS)).not.toBe(before);
  });

  it('changes when an already written page inside the ranges is rewritten', () => {
    const mem = loaded();
    const before = segmentsDigest(mem, SEGMENTS);
    mem.write(SEGMENTS[1].start + 7, new Uint8Array([0x43]));
    expect(segmentsDigest(mem, SEGMENTS)).not.toBe(before);
  });

  it('changes when part of the ranges is filled (scrubbed, decayed, reloaded)', () => {
    for (const fill of [
      { range: { start: SEGMENTS[1].start + PAGE_SIZE, end: SEGMENTS[1].end }, kind: 'zero' as const, salt: 0 },
      { range: { start: SEGMENTS[0].start, end: SEGMENTS[0].start + PAGE_SIZE }, kind: 'kernel-text' as const, salt: 2 },
      { range: { start: SEGMENTS[0].end - PAGE_SIZE, end: SEGMENTS[0].end + MiB }, kind: 'anon' as const, salt: 0 },
    ]) {
      const mem = loaded();
      const before = segmentsDigest(mem, SEGMENTS);
      mem.fill(fill.range, fill.kind, fill.salt, 'test');
      expect(segmentsDigest(mem, SEGMENTS)).not.toBe(before);
    }
  });

  it('does not change for writes or fills outside the ranges', () => {
    const mem = loaded();
    const before = segmentsDigest(mem, SEGMENTS);
    mem.write(OUTSIDE + PAGE_SIZE, new Uint8Array(PAGE_SIZE).fill(9));
    mem.write(SEGMENTS[0].end, new Uint8Array(PAGE_SIZE).fill(9));
    mem.write(SEGMENTS[1].start - PAGE_SIZE, new Uint8Array(PAGE_SIZE).fill(9));
    mem.fill({ start: 0, end: SEGMENTS[0].start }, 'zero', 0, 'below');
    mem.fill({ start: SEGMENTS[1].end, end: 200 * MiB }, 'anon', 5, 'above');
    expect(segmentsDigest(mem, SEGMENTS)).toBe(before);
  });

  it('covers each range: a change in either changes the digest of both', () => {
    const mem = loaded();
    const both = segmentsDigest(mem, SEGMENTS);
    const first = segmentsDigest(mem, [SEGMENTS[0]]);
    mem.write(SEGMENTS[1].end - PAGE_SIZE, new Uint8Array(PAGE_SIZE).fill(1));
    expect(segmentsDigest(mem, SEGMENTS)).not.toBe(both);
    expect(segmentsDigest(mem, [SEGMENTS[0]])).toBe(first);
  });

  it('depends on which ranges are digested', () => {
    const mem = loaded();
    expect(segmentsDigest(mem, SEGMENTS)).not.toBe(segmentsDigest(mem, [SEGMENTS[0]]));
  });

  it('changes when a copy or a computed region lands inside the ranges, and not for a re-fill with the same kind and salt', () => {
    const base = segmentsDigest(loaded(), SEGMENTS);
    const copied = loaded();
    copied.copyRange({ start: OUTSIDE, end: OUTSIDE + 4 * PAGE_SIZE }, SEGMENTS[0].start + 40 * PAGE_SIZE, 'copy');
    expect(segmentsDigest(copied, SEGMENTS)).not.toBe(base);
    const computed = loaded();
    computed.compute({
      start: SEGMENTS[0].start,
      end: SEGMENTS[0].start + 8 * PAGE_SIZE,
      kind: 'slab',
      label: 'computed',
      generate: (_pfn, dst) => dst.fill(0x77),
    });
    expect(segmentsDigest(computed, SEGMENTS)).not.toBe(base);
    const refilled = loaded();
    refilled.fill({ start: SEGMENTS[0].start + 4 * PAGE_SIZE, end: SEGMENTS[0].start + 8 * PAGE_SIZE }, 'kernel-text', 1, 'capture kernel');
    expect(segmentsDigest(refilled, SEGMENTS)).toBe(base);
  });
});
