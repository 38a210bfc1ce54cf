import { SimulationError } from '../errors';
import { MiB, PAGE_SIZE } from '../units';
import { PhysicalMemory } from './physical-memory';
import type { PhysRange } from './ranges';

const RAM: PhysRange[] = [{ start: 0, end: 512 * MiB }];
const SRC: PhysRange = { start: 16 * MiB, end: 16 * MiB + 256 * PAGE_SIZE };
const DST = 256 * MiB;
const PAGES = (SRC.end - SRC.start) / PAGE_SIZE;

function snapshot(mem: PhysicalMemory, r: PhysRange): Uint8Array {
  const out = new Uint8Array(r.end - r.start);
  mem.read(r.start, out);
  return out;
}

function expectSame(got: Uint8Array, want: Uint8Array): void {
  const a = Buffer.from(got.buffer, got.byteOffset, got.length);
  const b = Buffer.from(want.buffer, want.byteOffset, want.length);
  if (a.equals(b)) return;
  let i = 0;
  while (a[i] === b[i]) i++;
  throw new Error(`bytes differ first at offset ${i} (page ${Math.floor(i / PAGE_SIZE)})`);
}

const dstRange = (src: PhysRange, dst: number): PhysRange => ({ start: dst, end: dst + src.end - src.start });

/** A source with generated (mix) frames, written frames, a partly written frame and two fills of other kinds. */
function busyMemory(seed = 5): PhysicalMemory {
  const mem = new PhysicalMemory({ seed, ram: RAM });
  mem.fill({ start: SRC.start + 32 * PAGE_SIZE, end: SRC.start + 64 * PAGE_SIZE }, 'kernel-text', 3, 'image');
  mem.fill({ start: SRC.start + 100 * PAGE_SIZE, end: SRC.start + 110 * PAGE_SIZE }, 'zero', 0, 'scrub');
  mem.write(SRC.start + 5 * PAGE_SIZE, new Uint8Array(PAGE_SIZE).fill(0xab));
  mem.write(SRC.start + 40 * PAGE_SIZE + 100, new Uint8Array([1, 2, 3, 4]));
  mem.write(SRC.start + 105 * PAGE_SIZE, new Uint8Array(PAGE_SIZE).fill(0x5a));
  return mem;
}

describe('PhysicalMemory.copyRange', () => {
  it('makes the destination read as the source did at the time of the copy', () => {
    const mem = busyMemory();
    const want = snapshot(mem, SRC);
    mem.copyRange(SRC, DST, 'copy');
    expectSame(snapshot(mem, dstRange(SRC, DST)), want);
    // readPage frame by frame agrees with read.
    const page = new Uint8Array(PAGE_SIZE);
    for (const i of [0, 5, 40, 63, 64, 105, PAGES - 1]) {
      mem.readPage(DST / PAGE_SIZE + i, page);
      expectSame(page, want.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE));
    }
    // The source itself is unchanged by being copied.
    expectSame(snapshot(mem, SRC), want);
  });

  it('keeps the copy when the source is later written or filled', () => {
    const mem = busyMemory();
    const want = snapshot(mem, SRC);
    mem.copyRange(SRC, DST, 'copy');
    mem.write(SRC.start, new Uint8Array(3 * PAGE_SIZE).fill(0x11));
    mem.write(SRC.start + 5 * PAGE_SIZE, new Uint8Array(PAGE_SIZE).fill(0x22));
    mem.fill({ start: SRC.start + 32 * PAGE_SIZE, end: SRC.start + 48 * PAGE_SIZE }, 'anon', 9, 'reuse');
    mem.fill({ start: SRC.start + 100 * PAGE_SIZE, end: SRC.end }, 'page-cache', 1, 'reuse');
    expect(Buffer.from(snapshot(mem, SRC)).equals(Buffer.from(want))).toBe(false);
    expectSame(snapshot(mem, dstRange(SRC, DST)), want);
  });

  it('copies over whatever the destination held (written frames and fills)', () => {
    const mem = busyMemory();
    mem.write(DST + 7 * PAGE_SIZE, new Uint8Array(PAGE_SIZE).fill(0xee));
    mem.fill({ start: DST + 64 * PAGE_SIZE, end: DST + 512 * PAGE_SIZE }, 'anon', 4, 'old');
    const want = snapshot(mem, SRC);
    mem.copyRange(SRC, DST, 'copy');
    expectSame(snapshot(mem, dstRange(SRC, DST)), want);
    // The fill beyond the copy's end is left as it was.
    expect(mem.kindOf(DST / PAGE_SIZE + PAGES).kind).toBe('anon');
  });

  it('a later write to the destination takes precedence and does not touch the source', () => {
    const mem = busyMemory();
    const want = snapshot(mem, SRC);
    mem.copyRange(SRC, DST, 'copy');
    const bytes = new Uint8Array(PAGE_SIZE).fill(0x77);
    mem.write(DST + 3 * PAGE_SIZE, bytes);
    const page = new Uint8Array(PAGE_SIZE);
    mem.readPage(DST / PAGE_SIZE + 3, page);
    expectSame(page, bytes);
    expectSame(snapshot(mem, SRC), want);
  });

  it('reports the source kind for destination frames', () => {
    const mem = busyMemory();
    const srcPfn = SRC.start / PAGE_SIZE;
    const kinds = Array.from({ length: PAGES }, (_, i) => mem.kindOf(srcPfn + i).kind);
    expect(new Set(kinds).size).toBeGreaterThan(2);
    mem.copyRange(SRC, DST, 'copy');
    mem.fill({ start: SRC.start, end: SRC.end }, 'zero', 0, 'scrubbed after the copy');
    expect(Array.from({ length: PAGES }, (_, i) => mem.kindOf(DST / PAGE_SIZE + i).kind)).toEqual(kinds);
  });

  it('copies a computed region of the source as it generates', () => {
    const mem = new PhysicalMemory({ seed: 2, ram: RAM });
    mem.compute({
      start: SRC.start,
      end: SRC.start + 16 * PAGE_SIZE,
      kind: 'slab',
      label: 'computed',
      generate: (pfn, dst) => dst.fill(pfn & 0xff),
    });
    const want = snapshot(mem, SRC);
    mem.copyRange(SRC, DST, 'copy');
    mem.fill(SRC, 'zero', 0, 'gone');
    expectSame(snapshot(mem, dstRange(SRC, DST)), want);
    expect(mem.kindOf(DST / PAGE_SIZE).kind).toBe('slab');
  });

  it('a copy of a copy reads as the first source did', () => {
    const mem = busyMemory();
    const want = snapshot(mem, SRC);
    mem.copyRange(SRC, DST, 'first');
    mem.fill(SRC, 'anon', 8, 'reuse');
    mem.copyRange(dstRange(SRC, DST), 384 * MiB, 'second');
    mem.write(DST, new Uint8Array(PAGE_SIZE).fill(0x99));
    expectSame(snapshot(mem, dstRange(SRC, 384 * MiB)), want);
  });

  it('does not materialise page memory for generated frames', () => {
    const mem = busyMemory();
    const big: PhysRange = { start: 0, end: 128 * MiB };
    const before = mem.overlayPages;
    mem.copyRange(big, 256 * MiB, 'big copy');
    expect(mem.overlayPages).toBeLessThanOrEqual(before);
    // Reading the copy does not materialise it either.
    const page = new Uint8Array(PAGE_SIZE);
    for (let pfn = (256 * MiB) / PAGE_SIZE; pfn < (384 * MiB) / PAGE_SIZE; pfn += 257) mem.readPage(pfn, page);
    expect(mem.overlayPages).toBeLessThanOrEqual(before);
  });

  it('rejects a copy that overlaps its destination', () => {
    const mem = busyMemory();
    const size = SRC.end - SRC.start;
    expect(() => mem.copyRange(SRC, SRC.start, 'self')).toThrow(SimulationError);
    expect(() => mem.copyRange(SRC, SRC.start + size - PAGE_SIZE, 'tail')).toThrow(SimulationError);
    expect(() => mem.copyRange(SRC, SRC.start - size + PAGE_SIZE, 'head')).toThrow(SimulationError);
    // Adjacent is fine.
    expect(() => mem.copyRange(SRC, SRC.end, 'adjacent')).not.toThrow();
  });

  it('rejects unaligned or empty copies', () => {
    const mem = busyMemory();
    expect(() => mem.copyRange({ start: SRC.start + 1, end: SRC.end + 1 }, DST, 'x')).toThrow(SimulationError);
    expect(() => mem.copyRange({ start: SRC.start, end: SRC.end - 100 }, DST, 'x')).toThrow(SimulationError);
    expect(() => mem.copyRange(SRC, DST + 512, 'x')).toThrow(SimulationError);
    expect(() => mem.copyRange({ start: SRC.start, end: SRC.start }, DST, 'x')).toThrow(SimulationError);
  });
});
