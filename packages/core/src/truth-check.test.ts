import { createHash } from 'node:crypto';
import { checkAgainstTruth } from './truth-check';
import { Rng } from './rng';
import type { TruthManifest } from './truth';
import { PAGE_SIZE } from './units';

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** A dump as a map of physical page address to bytes, and a reader over it. */
function fakeDump(): { pages: Map<number, Uint8Array>; read: (paddr: number, dst: Uint8Array) => boolean } {
  const pages = new Map<number, Uint8Array>();
  return {
    pages,
    read: (paddr, dst) => {
      const p = pages.get(paddr);
      if (!p) return false;
      dst.set(p);
      return true;
    },
  };
}

const DATA_PAGES = [0x1000, 0x5000, 0x100000, 0x7fff000, 0x100000000];
const ZERO_PAGES = [0x2000, 0x200000];
const EXCLUDED: [number, number] = [0x4000000, 0x4000000 + 16 * PAGE_SIZE];

/** The truth a correct dump must match, and a dump that matches it (no excluded pages). */
function scenario(): { truth: TruthManifest; dump: ReturnType<typeof fakeDump> } {
  const dump = fakeDump();
  const rng = new Rng(99);
  const truth: TruthManifest = { format: 'efikdump-truth/1', pageSize: PAGE_SIZE, pages: [], zeroPages: ZERO_PAGES, excluded: [EXCLUDED] };
  for (const paddr of DATA_PAGES) {
    const page = new Uint8Array(PAGE_SIZE);
    rng.fill(page);
    dump.pages.set(paddr, page);
    truth.pages.push({ paddr, sha256: sha256(page) });
  }
  for (const paddr of ZERO_PAGES) dump.pages.set(paddr, new Uint8Array(PAGE_SIZE));
  // Pages the truth does not mention are allowed in the dump.
  dump.pages.set(0x9000, new Uint8Array(PAGE_SIZE).fill(3));
  return { truth, dump };
}

describe('checkAgainstTruth', () => {
  it('matches every sampled page of a correct dump', () => {
    const { truth, dump } = scenario();
    expect(checkAgainstTruth(truth, dump.read)).toEqual({
      checked: DATA_PAGES.length + ZERO_PAGES.length,
      matched: DATA_PAGES.length + ZERO_PAGES.length,
      missing: [],
      declaredLost: [],
      mismatched: [],
      excludedPresent: [],
    });
  });

  it('names the page whose single byte was flipped', () => {
    const { truth, dump } = scenario();
    dump.pages.get(0x100000)![2345] ^= 0x01;
    const check = checkAgainstTruth(truth, dump.read);
    expect(check.mismatched).toEqual([0x100000]);
    expect(check.matched).toBe(check.checked - 1);
    expect(check.missing).toEqual([]);
  });

  it('names a zero page that is not all zeros', () => {
    const { truth, dump } = scenario();
    dump.pages.get(0x200000)![PAGE_SIZE - 1] = 0x80;
    const check = checkAgainstTruth(truth, dump.read);
    expect(check.mismatched).toEqual([0x200000]);
    expect(check.matched).toBe(check.checked - 1);
  });

  it('counts an absent page inside a declared lost range as declared, not missing', () => {
    const { truth, dump } = scenario();
    dump.pages.delete(0x5000);
    dump.pages.delete(0x2000);
    const check = checkAgainstTruth(truth, dump.read, [{ start: 0x5000, end: 0x6000, reason: 'firmware-footprint' }]);
    expect(check.declaredLost).toEqual([0x5000]);
    expect(check.missing).toEqual([0x2000]);
    expect(check.mismatched).toEqual([]);
  });

  it('lists pages the dump does not hold as missing, not mismatched', () => {
    const { truth, dump } = scenario();
    dump.pages.delete(0x5000);
    dump.pages.delete(0x2000);
    const check = checkAgainstTruth(truth, dump.read);
    expect(check.missing.sort((a, b) => a - b)).toEqual([0x2000, 0x5000]);
    expect(check.mismatched).toEqual([]);
    expect(check.matched).toBe(check.checked - 2);
  });

  it('catches a page read from the wrong address (a valid page, but not this one)', () => {
    const { truth, dump } = scenario();
    dump.pages.set(0x1000, dump.pages.get(0x5000)!);
    expect(checkAgainstTruth(truth, dump.read).mismatched).toEqual([0x1000]);
  });

  it('reports the first excluded page present in the dump, once per range', () => {
    const { truth, dump } = scenario();
    const [start, end] = EXCLUDED;
    for (let a = start; a < end; a += PAGE_SIZE) dump.pages.set(a, new Uint8Array(PAGE_SIZE));
    const check = checkAgainstTruth(truth, dump.read);
    expect(check.excludedPresent).toEqual([start]);
    // The sampled pages still all match: excluded pages are a separate verdict.
    expect(check.matched).toBe(check.checked);
  });

  it('looks at every page of an excluded range, not a sample', () => {
    const [start, end] = EXCLUDED;
    for (let a = start; a < end; a += PAGE_SIZE) {
      const { truth, dump } = scenario();
      dump.pages.set(a, new Uint8Array(PAGE_SIZE));
      expect(checkAgainstTruth(truth, dump.read).excludedPresent).toEqual([a]);
    }
  });

  it('counts an absent page inside a declared lost range as declaredLost, any other as missing', () => {
    const { truth, dump } = scenario();
    dump.pages.delete(0x5000);
    dump.pages.delete(0x100000);
    dump.pages.delete(0x2000);
    const check = checkAgainstTruth(truth, dump.read, [
      { start: 0x100000, end: 0x200000, reason: 'firmware-footprint' },
      { start: 0x5000, end: 0x6000, reason: 'dma' },
    ]);
    expect(check.declaredLost).toEqual([0x5000, 0x100000]);
    expect(check.missing).toEqual([0x2000]);
    expect(check.matched).toBe(check.checked - 3);
  });

  it('compares a page inside a declared lost range that the dump holds anyway', () => {
    const { truth, dump } = scenario();
    dump.pages.get(0x1000)![0] ^= 1;
    const check = checkAgainstTruth(truth, dump.read, [{ start: 0, end: 0x2000, reason: 'unreadable' }]);
    expect(check.mismatched).toEqual([0x1000]);
    expect(check.declaredLost).toEqual([]);
  });

  it('probes a one-page excluded range once', () => {
    const { truth, dump } = scenario();
    truth.excluded = [[0x3000000, 0x3000000 + PAGE_SIZE]];
    dump.pages.set(0x3000000, new Uint8Array(PAGE_SIZE));
    expect(checkAgainstTruth(truth, dump.read).excludedPresent).toEqual([0x3000000]);
  });

  it('checks nothing for an empty manifest', () => {
    const empty: TruthManifest = { format: 'efikdump-truth/1', pageSize: PAGE_SIZE, pages: [], zeroPages: [], excluded: [] };
    expect(checkAgainstTruth(empty, () => true)).toEqual({
      checked: 0,
      matched: 0,
      missing: [],
      declaredLost: [],
      mismatched: [],
      excludedPresent: [],
    });
  });
});
