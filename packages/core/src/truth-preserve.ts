import type { RunContext } from './context';
import { PAGE_SIZE } from './units';

/**
 * Adds a page of the dumped old memory to the run's truth manifest, with its content now (call it
 * before something overwrites the page after the truth was taken, e.g. a stray DMA write), so that
 * verification sees the corruption. Returns whether the truth changed: false without a truth, or
 * when the truth already holds the page (as a page or a zero page). Pages stay sorted by address.
 * Writing the changed truth to `ctx.options.truth` is the caller's business.
 */
export function preservePageInTruth(ctx: RunContext, paddr: number): boolean {
  const truth = ctx.state.truth;
  if (!truth) return false;
  if (truth.pages.some((p) => p.paddr === paddr) || truth.zeroPages.includes(paddr)) return false;
  const pfn = paddr / PAGE_SIZE;
  if (ctx.machine.memory.isZeroPage(pfn)) {
    truth.zeroPages.push(paddr);
    truth.zeroPages.sort((a, b) => a - b);
  } else {
    truth.pages.push({ paddr, sha256: ctx.machine.memory.pageSha256(pfn) });
    truth.pages.sort((a, b) => a.paddr - b.paddr);
  }
  return true;
}
