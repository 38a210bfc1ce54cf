import { createHash } from 'node:crypto';
import type { LostRange } from './formats/lost-ranges';
import type { TruthManifest } from './truth';
import { pageAlignDown, pageAlignUp, PAGE_SIZE } from './units';

/** What comparing a dump with a truth manifest found; every list holds physical page addresses. */
export interface PageCheck {
  /** Truth pages looked for (non-zero and zero pages). */
  checked: number;
  /** Truth pages the dump holds with the truth's content. */
  matched: number;
  /** Truth pages absent from the dump and not inside a declared lost range. */
  missing: number[];
  /** Truth pages absent from the dump and inside a range the dump declares lost (the lost-ranges note). */
  declaredLost: number[];
  /** Truth pages the dump holds with other content. */
  mismatched: number[];
  /** Pages of the truth's excluded ranges that the dump holds: the first one of each such range. */
  excludedPresent: number[];
}

/** Whether `paddr` is inside one of `ranges` (sorted by start, as the note requires). */
function inRanges(ranges: readonly LostRange[], paddr: number): boolean {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = ranges[mid];
    if (paddr < r.start) hi = mid - 1;
    else if (paddr >= r.end) lo = mid + 1;
    else return true;
  }
  return false;
}

/**
 * Compares a dump (through any reader of physical pages: `readPhysPage` fills `dst` and returns
 * true when the dump holds that page) with a truth manifest. A truth page the dump lacks is
 * `declaredLost` when it lies in one of `declaredLost` (the ranges the dump's lost-ranges note
 * declares), else `missing`. Every page of every excluded range is looked up (not a sample); the
 * first one the dump holds in each range is reported.
 */
export function checkAgainstTruth(
  truth: TruthManifest,
  readPhysPage: (paddr: number, dst: Uint8Array) => boolean,
  declaredLost: readonly LostRange[] = [],
): PageCheck {
  const lost = [...declaredLost].sort((a, b) => a.start - b.start);
  const buf = new Uint8Array(PAGE_SIZE);
  const result: PageCheck = { checked: 0, matched: 0, missing: [], declaredLost: [], mismatched: [], excludedPresent: [] };
  const absent = (paddr: number) => (inRanges(lost, paddr) ? result.declaredLost : result.missing).push(paddr);
  for (const { paddr, sha256 } of truth.pages) {
    result.checked++;
    buf.fill(0);
    if (!readPhysPage(paddr, buf)) absent(paddr);
    else if (createHash('sha256').update(buf).digest('hex') !== sha256) result.mismatched.push(paddr);
    else result.matched++;
  }
  for (const paddr of truth.zeroPages) {
    result.checked++;
    buf.fill(0xa5);
    if (!readPhysPage(paddr, buf)) absent(paddr);
    else if (buf.some((b) => b !== 0)) result.mismatched.push(paddr);
    else result.matched++;
  }
  for (const [start, end] of truth.excluded) {
    for (let a = pageAlignDown(start); a < pageAlignUp(end); a += PAGE_SIZE) {
      if (readPhysPage(a, buf)) {
        result.excludedPresent.push(a);
        break;
      }
    }
  }
  return result;
}
