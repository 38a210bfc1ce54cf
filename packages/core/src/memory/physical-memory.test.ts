import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { SimulationError } from '../errors';
import { Rng } from '../rng';
import { GiB, MiB, PAGE_SIZE, TiB } from '../units';
import { PAGE_KINDS, type GeneratedKind, type PageKindMix } from './page-kinds';
import { PhysicalMemory } from './physical-memory';

/** 64 MiB at 0 and 64 MiB at 4 GiB, with a hole between them (as below and above the PCI hole). */
const RAM = [
  { start: 0, end: 64 * MiB },
  { start: 4 * GiB, end: 4 * GiB + 64 * MiB },
];
const LOW_PAGES = (64 * MiB) / PAGE_SIZE;
const HIGH_FIRST_PFN = (4 * GiB) / PAGE_SIZE;

function page(mem: PhysicalMemory, pfn: number): Uint8Array {
  const buf = new Uint8Array(PAGE_SIZE);
  mem.readPage(pfn, buf);
  return buf;
}

const allZero = (b: Uint8Array): boolean => b.every((x) => x === 0);
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const ZERO_PAGE_SHA256 = sha(new Uint8Array(PAGE_SIZE));

/** `count` distinct frame numbers of RAM, drawn with a seeded generator. */
function samplePfns(count: number, seed: number): number[] {
  const rng = new Rng(seed, 0x5a);
  const out = new Set<number>();
  while (out.size < count) {
    out.add(rng.below(2) === 0 ? rng.below(LOW_PAGES) : HIGH_FIRST_PFN + rng.below(LOW_PAGES));
  }
  return [...out];
}

function expectSimulationError(fn: () => unknown): void {
  expect(fn).toThrow(SimulationError);
}

describe('PhysicalMemory: generated content', () => {
  it('is a pure function of seed and frame: two instances agree, page by page', () => {
    const a = new PhysicalMemory({ seed: 7, ram: RAM });
    const b = new PhysicalMemory({ seed: 7, ram: RAM });
    for (const pfn of samplePfns(300, 1)) expect(sha(page(a, pfn))).toBe(sha(page(b, pfn)));
    // Reading does not change what is read next (no hidden state advanced by reads).
    const pfn = HIGH_FIRST_PFN + 123;
    expect(page(a, pfn)).toEqual(page(a, pfn));
  });

  it('differs between seeds for every frame that is not all zeros', () => {
    const a = new PhysicalMemory({ seed: 7, ram: RAM });
    const b = new PhysicalMemory({ seed: 8, ram: RAM });
    let compared = 0;
    for (const pfn of samplePfns(400, 2)) {
      const pa = page(a, pfn);
      const pb = page(b, pfn);
      if (allZero(pa) && allZero(pb)) continue;
      compared++;
      expect(sha(pa)).not.toBe(sha(pb));
    }
    expect(compared).toBeGreaterThan(100);
  });

  it('never generates the same non-zero page twice (frame stamp), even from a small corpus', () => {
    const mem = new PhysicalMemory({ seed: 3, ram: RAM });
    // Kernel text and page cache are cut from 256 KiB corpora: far fewer distinct offsets than
    // frames, so without a per-frame stamp many of these 4096 pages would be byte-identical.
    mem.fill({ start: 0, end: 8 * MiB }, 'kernel-text', 0, 'kernel image');
    mem.fill({ start: 8 * MiB, end: 16 * MiB }, 'page-cache', 0, 'page cache');
    const digests = new Set<string>();
    let nonZero = 0;
    const pfns = [
      ...Array.from({ length: (16 * MiB) / PAGE_SIZE }, (_, i) => i),
      ...samplePfns(2000, 3).filter((p) => p >= (16 * MiB) / PAGE_SIZE),
    ];
    for (const pfn of new Set(pfns)) {
      const p = page(mem, pfn);
      if (allZero(p)) continue;
      nonZero++;
      digests.add(sha(p));
    }
    expect(nonZero).toBeGreaterThan(4096);
    expect(digests.size).toBe(nonZero);
  });

  it('keeps frames 2^32 apart distinct (frame numbers above 32 bits)', () => {
    const mem = new PhysicalMemory({ seed: 1, ram: [{ start: 0, end: 2 ** 46 }] });
    const high = 2 ** 32;
    for (const kind of ['anon', 'slab', 'kernel-text', 'page-cache'] as const) {
      mem.fill({ start: 5 * PAGE_SIZE, end: 6 * PAGE_SIZE }, kind, 0, 'low');
      mem.fill({ start: (high + 5) * PAGE_SIZE, end: (high + 6) * PAGE_SIZE }, kind, 0, 'high');
      expect(sha(page(mem, high + 5))).not.toBe(sha(page(mem, 5)));
    }
  });

  it('changes the bytes, not the kind, with a new salt', () => {
    const mem = new PhysicalMemory({ seed: 4, ram: RAM });
    const range = { start: 32 * PAGE_SIZE, end: 33 * PAGE_SIZE };
    mem.fill(range, 'anon', 1, 'epoch 1');
    const first = page(mem, 32);
    mem.fill(range, 'anon', 2, 'epoch 2');
    const second = page(mem, 32);
    expect(mem.kindOf(32)).toEqual({ kind: 'anon', salt: 2 });
    expect(sha(first)).not.toBe(sha(second));
    mem.fill(range, 'anon', 1, 'epoch 1 again');
    expect(page(mem, 32)).toEqual(first);
  });

  it('rejects unaligned RAM and a mix with no positive proportion', () => {
    expectSimulationError(() => new PhysicalMemory({ seed: 1, ram: [{ start: 0, end: PAGE_SIZE + 1 }] }));
    expectSimulationError(() => new PhysicalMemory({ seed: 1, ram: [{ start: 100, end: 2 * PAGE_SIZE }] }));
    const none: PageKindMix = { zero: 0, 'kernel-text': 0, slab: 0, 'page-cache': 0, anon: 0 };
    expectSimulationError(() => new PhysicalMemory({ seed: 1, ram: RAM, mix: none }));
  });
});

describe('PhysicalMemory: kinds', () => {
  function proportions(mem: PhysicalMemory, frames: number): Record<GeneratedKind, number> {
    const counts = Object.fromEntries(PAGE_KINDS.map((k) => [k, 0])) as Record<GeneratedKind, number>;
    for (let pfn = 0; pfn < frames; pfn++) counts[mem.kindOf(pfn).kind]++;
    for (const k of PAGE_KINDS) counts[k] /= frames;
    return counts;
  }

  // Kinds are drawn per 16-frame cluster, so 200k frames are 12.5k independent draws: the
  // standard error of a proportion is at most 0.0045, and 0.02 is more than 4 of them.
  it('follows the mix over 200k frames', () => {
    const mix = { zero: 0.4, 'kernel-text': 0.05, slab: 0.25, 'page-cache': 0.2, anon: 0.1 };
    const mem = new PhysicalMemory({ seed: 9, ram: [{ start: 0, end: 1 * GiB }], mix });
    const got = proportions(mem, 200_000);
    for (const k of PAGE_KINDS) expect(Math.abs(got[k] - mix[k])).toBeLessThan(0.02);
  });

  it('treats the mix as relative weights, and never picks a kind of weight 0', () => {
    const mix = { zero: 3, 'kernel-text': 0, slab: 0, 'page-cache': 1, anon: 0 };
    const mem = new PhysicalMemory({ seed: 10, ram: [{ start: 0, end: 1 * GiB }], mix });
    const got = proportions(mem, 200_000);
    expect(Math.abs(got.zero - 0.75)).toBeLessThan(0.02);
    expect(Math.abs(got['page-cache'] - 0.25)).toBeLessThan(0.02);
    expect(got['kernel-text'] + got.slab + got.anon).toBe(0);
  });

  it('generates content that matches the kind, and isZeroPage agrees with the bytes', () => {
    const mem = new PhysicalMemory({ seed: 11, ram: RAM });
    const seenKinds = new Set<GeneratedKind>();
    for (const pfn of samplePfns(1500, 11)) {
      const p = page(mem, pfn);
      const { kind } = mem.kindOf(pfn);
      seenKinds.add(kind);
      expect(allZero(p)).toBe(kind === 'zero');
      expect(mem.isZeroPage(pfn)).toBe(allZero(p));
    }
    expect([...seenKinds].sort()).toEqual([...PAGE_KINDS].sort());
    expect(mem.overlayPages).toBe(0);
  });

  it('isZeroPage follows writes: zeros written over data, and one byte written into zeros', () => {
    const mem = new PhysicalMemory({ seed: 12, ram: RAM });
    mem.fill({ start: 0, end: PAGE_SIZE }, 'anon', 0, 'data');
    mem.fill({ start: PAGE_SIZE, end: 2 * PAGE_SIZE }, 'zero', 0, 'zeros');
    expect(mem.isZeroPage(0)).toBe(false);
    expect(mem.isZeroPage(1)).toBe(true);
    mem.write(0, new Uint8Array(PAGE_SIZE));
    mem.write(PAGE_SIZE + 4095, Uint8Array.of(1));
    expect(mem.isZeroPage(0)).toBe(true);
    expect(mem.isZeroPage(1)).toBe(false);
  });
});

describe('PhysicalMemory: writes', () => {
  it('reads back what was written, leaving unwritten neighbours as generated', () => {
    const mem = new PhysicalMemory({ seed: 21, ram: RAM });
    const fresh = new PhysicalMemory({ seed: 21, ram: RAM });
    const pfn = 100;
    const data = new Uint8Array(PAGE_SIZE);
    new Rng(1).fill(data);
    mem.write(pfn * PAGE_SIZE, data);
    expect(page(mem, pfn)).toEqual(data);
    expect(page(mem, pfn - 1)).toEqual(page(fresh, pfn - 1));
    expect(page(mem, pfn + 1)).toEqual(page(fresh, pfn + 1));
    expect(mem.overlayPages).toBe(1);
    expect(mem.isWritten(pfn)).toBe(true);
    expect(mem.isWritten(pfn + 1)).toBe(false);
    // The written page is a copy: changing the caller's buffer afterwards changes nothing.
    data.fill(0xee);
    expect(page(mem, pfn)).not.toEqual(data);
  });

  it('keeps the rest of the generated page around a partial write', () => {
    const mem = new PhysicalMemory({ seed: 22, ram: RAM });
    const fresh = new PhysicalMemory({ seed: 22, ram: RAM });
    mem.fill({ start: 0, end: 16 * PAGE_SIZE }, 'page-cache', 0, 'text');
    fresh.fill({ start: 0, end: 16 * PAGE_SIZE }, 'page-cache', 0, 'text');
    const pfn = 5;
    const patch = new Uint8Array(100).fill(0xa5);
    mem.write(pfn * PAGE_SIZE + 1000, patch);
    const expected = page(fresh, pfn);
    expected.set(patch, 1000);
    expect(page(mem, pfn)).toEqual(expected);
  });

  it('splits a write across a page boundary into two copy-on-write pages', () => {
    const mem = new PhysicalMemory({ seed: 23, ram: RAM });
    const fresh = new PhysicalMemory({ seed: 23, ram: RAM });
    const patch = new Uint8Array(200).fill(0x5a);
    mem.write(8 * PAGE_SIZE - 50, patch);
    expect(mem.writtenFrames({ start: 0, end: 64 * MiB })).toEqual([7, 8]);
    const p7 = page(fresh, 7);
    p7.fill(0x5a, PAGE_SIZE - 50);
    const p8 = page(fresh, 8);
    p8.fill(0x5a, 0, 150);
    expect(page(mem, 7)).toEqual(p7);
    expect(page(mem, 8)).toEqual(p8);
  });

  it('reads across page boundaries exactly as the per-page reads put together', () => {
    const mem = new PhysicalMemory({ seed: 24, ram: RAM });
    const reference = new PhysicalMemory({ seed: 24, ram: RAM });
    // Some written pages in the window, so reads mix overlay and generated frames.
    for (const pfn of [HIGH_FIRST_PFN + 3, HIGH_FIRST_PFN + 5]) {
      const d = new Uint8Array(PAGE_SIZE);
      new Rng(pfn).fill(d);
      mem.write(pfn * PAGE_SIZE, d);
      reference.write(pfn * PAGE_SIZE, d);
    }
    const windowStart = 4 * GiB;
    const windowBytes = 16 * PAGE_SIZE;
    const flat = new Uint8Array(windowBytes);
    for (let i = 0; i < 16; i++) flat.set(page(reference, HIGH_FIRST_PFN + i), i * PAGE_SIZE);
    fc.assert(
      fc.property(fc.nat({ max: windowBytes }), fc.nat({ max: windowBytes }), fc.nat({ max: 7 }), (a, b, pad) => {
        const [from, to] = a <= b ? [a, b] : [b, a];
        // Read into an unaligned view of a larger buffer, as callers slicing a file buffer do.
        const backing = new Uint8Array(to - from + pad);
        const dst = backing.subarray(pad);
        mem.read(windowStart + from, dst);
        expect(Buffer.from(dst).equals(Buffer.from(flat.subarray(from, to)))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('refuses reads and writes outside RAM', () => {
    const mem = new PhysicalMemory({ seed: 25, ram: RAM });
    const buf = new Uint8Array(8);
    expectSimulationError(() => mem.read(64 * MiB - 4, buf)); // runs off the end of the low range
    expectSimulationError(() => mem.read(64 * MiB, buf)); // in the hole
    expectSimulationError(() => mem.read(4 * GiB - 4, buf)); // straddles the hole's upper edge
    expectSimulationError(() => mem.read(4 * GiB + 64 * MiB, buf)); // past the top
    expectSimulationError(() => mem.read(-8, buf));
    expectSimulationError(() => mem.read(0.5, buf));
    expectSimulationError(() => mem.read(2 ** 53, buf));
    expectSimulationError(() => mem.write(64 * MiB - 4, buf));
    expectSimulationError(() => mem.write(2 * GiB, buf));
    expect(mem.overlayPages).toBe(0);
    // The last bytes of each range are fine.
    expect(() => mem.read(64 * MiB - 8, buf)).not.toThrow();
    expect(() => mem.write(4 * GiB + 64 * MiB - 8, buf)).not.toThrow();
  });
});

describe('PhysicalMemory: fill', () => {
  it('re-kinds a range without materialising pages, dropping the overlay pages inside it', () => {
    const mem = new PhysicalMemory({ seed: 31, ram: RAM });
    const junk = new Uint8Array(PAGE_SIZE).fill(0x77);
    for (const pfn of [9, 10, 20, 30]) mem.write(pfn * PAGE_SIZE, junk);
    expect(mem.overlayPages).toBe(4);

    mem.fill({ start: 10 * PAGE_SIZE, end: 30 * PAGE_SIZE }, 'zero', 0, 'scrubbed');
    expect(mem.writtenFrames({ start: 0, end: 64 * MiB })).toEqual([9, 30]);
    for (let pfn = 10; pfn < 30; pfn++) {
      expect(mem.isZeroPage(pfn)).toBe(true);
      expect(mem.isWritten(pfn)).toBe(false);
    }
    expect(page(mem, 9)).toEqual(junk);
    expect(page(mem, 30)).toEqual(junk);
    expect(mem.overlayPages).toBe(2);
    expect(mem.kindFills).toEqual([{ start: 10 * PAGE_SIZE, end: 30 * PAGE_SIZE, kind: 'zero', salt: 0, label: 'scrubbed' }]);
  });

  it('costs no page memory even for a whole 64 MiB range', () => {
    const mem = new PhysicalMemory({ seed: 32, ram: RAM });
    mem.fill({ start: 0, end: 64 * MiB }, 'anon', 5, 'everything');
    expect(mem.overlayPages).toBe(0);
    expect(mem.kindOf(LOW_PAGES - 1)).toEqual({ kind: 'anon', salt: 5 });
  });

  it('splits an older fill around a newer one', () => {
    const mem = new PhysicalMemory({ seed: 33, ram: RAM });
    mem.fill({ start: 0, end: 32 * PAGE_SIZE }, 'zero', 0, 'outer');
    mem.fill({ start: 8 * PAGE_SIZE, end: 16 * PAGE_SIZE }, 'slab', 3, 'inner');
    const kinds = Array.from({ length: 32 }, (_, pfn) => mem.kindOf(pfn).kind);
    expect(kinds).toEqual([...Array(8).fill('zero'), ...Array(8).fill('slab'), ...Array(16).fill('zero')]);
    expect(mem.kindFills.map((f) => [f.start / PAGE_SIZE, f.end / PAGE_SIZE, f.label])).toEqual([
      [0, 8, 'outer'],
      [8, 16, 'inner'],
      [16, 32, 'outer'],
    ]);
  });

  it('refuses unaligned or empty ranges', () => {
    const mem = new PhysicalMemory({ seed: 34, ram: RAM });
    expectSimulationError(() => mem.fill({ start: 1, end: PAGE_SIZE }, 'zero', 0, 'x'));
    expectSimulationError(() => mem.fill({ start: 0, end: PAGE_SIZE + 1 }, 'zero', 0, 'x'));
    expectSimulationError(() => mem.fill({ start: PAGE_SIZE, end: PAGE_SIZE }, 'zero', 0, 'x'));
    expect(mem.kindFills).toEqual([]);
  });
});

describe('PhysicalMemory: cost', () => {
  it('models 1 TiB at no cost until touched', () => {
    const mem = new PhysicalMemory({ seed: 41, ram: [{ start: 0, end: 2 ** 40 }] });
    expect(mem.ramBytes).toBe(TiB);
    const rng = new Rng(41);
    const frames = 2 ** 40 / PAGE_SIZE;
    let nonZero = 0;
    for (let i = 0; i < 10_000; i++) {
      const digest = mem.pageSha256(rng.below(frames));
      if (digest !== ZERO_PAGE_SHA256) nonZero++;
    }
    expect(nonZero).toBeGreaterThan(0);
    expect(mem.overlayPages).toBe(0);
    // The last frame is as readable as the first, and one write costs one page.
    const top = new Uint8Array(16);
    mem.read(2 ** 40 - 16, top);
    mem.write(2 ** 40 - PAGE_SIZE, Uint8Array.of(1));
    expect(mem.overlayPages).toBe(1);
  });
});
