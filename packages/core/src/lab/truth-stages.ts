/**
 * The laboratory's truth instruments: the manifest of the 1st kernel's memory taken before the
 * panic path runs, and the check of the saved dump against it. They measure a run; they model
 * nothing of Linux, the firmware or the devices (those are the stage packages').
 */
import type { StageOperator } from '../contracts';
import type { RunContext } from '../context';
import { SimulationError } from '../errors';
import { writeFileAtomic } from '../io';
import { intersectRanges, mergeRanges, subtractRanges, totalSize, type PhysRange } from '../memory/ranges';
import { stage } from '../stage';
import type { TruthManifest } from '../truth';
import { lostPageCount } from '../formats/lost-ranges';
import { checkAgainstTruth } from '../truth-check';
import { hex, pageAlignDown, pageAlignUp, PAGE_SIZE } from '../units';

/** The ranges a correct dump holds and that nothing after this point may legitimately change. */
export function stableDumpedRanges(ctx: RunContext): PhysRange[] {
  const k = ctx.state.kernel;
  if (!k) throw new SimulationError('truth capture needs the 1st kernel to have booted');
  // What the panic path writes, and the DMA buffers running devices rewrite, change after the truth is taken.
  const volatile = [...k.panicWrites, ...(k.dmaBuffers ?? [])].map((r) => ({ start: pageAlignDown(r.start), end: pageAlignUp(r.end) }));
  // Quarantined firmware memory never held anything of the kernel's: there is no truth to keep there.
  return subtractRanges(subtractRanges(subtractRanges(k.systemRam, k.crashkernel), volatile), k.quarantine ?? []);
}

/** Page at byte `offset` of the concatenation of `ranges`. */
function pageAt(ranges: PhysRange[], offset: number): number {
  let rest = offset;
  for (const r of ranges) {
    const size = r.end - r.start;
    if (rest < size) return pageAlignDown(r.start + rest);
    rest -= size;
  }
  throw new SimulationError(`offset ${offset} is past the sampled ranges`);
}

/**
 * Captures the truth manifest from the 1st kernel's memory before the panic path runs: a seeded
 * sample of non-zero pages with their SHA-256, a sample of zero pages, and the excluded ranges
 * (the crashkernel= reservation, unless `excludeReservation` is false: the exit's dump holds it).
 */
export function captureTruth(excludeReservation = true): StageOperator {
  return stage('truth', (ctx) => {
    const k = ctx.state.kernel!;
    const ranges = stableDumpedRanges(ctx);
    const total = totalSize(ranges);
    const rng = ctx.rng.fork(0x7e77);
    const mem = ctx.machine.memory;
    const pages = new Map<number, string>();
    const zeros = new Set<number>();
    const want = ctx.options.truthPages;
    const wantZero = ctx.options.truthZeroPages;
    const maxTries = 50 * (want + wantZero) + 1000;
    for (let tries = 0; tries < maxTries && (pages.size < want || zeros.size < wantZero); tries++) {
      const paddr = pageAt(ranges, rng.below(total));
      if (pages.has(paddr) || zeros.has(paddr)) continue;
      const pfn = paddr / PAGE_SIZE;
      if (mem.isZeroPage(pfn)) {
        if (zeros.size < wantZero) zeros.add(paddr);
      } else if (pages.size < want) {
        pages.set(paddr, mem.pageSha256(pfn));
      }
    }
    const truth: TruthManifest = {
      format: 'efikdump-truth/1',
      pageSize: PAGE_SIZE,
      pages: [...pages].sort((a, b) => a[0] - b[0]).map(([paddr, sha256]) => ({ paddr, sha256 })),
      zeroPages: [...zeros].sort((a, b) => a - b),
      excluded: excludeReservation ? mergeRanges(k.crashkernel).map((r) => [r.start, r.end] as [number, number]) : [],
    };
    ctx.state.truth = truth;
    ctx.metrics.truthPages = truth.pages.length;
    ctx.metrics.truthZeroPages = truth.zeroPages.length;
    if (ctx.options.truth) {
      writeFileAtomic(ctx.options.truth, JSON.stringify(truth) + '\n');
      ctx.artifacts.truth = ctx.options.truth;
    }
    ctx.log.emit('truth', 'info', `sampled ${truth.pages.length} pages and ${truth.zeroPages.length} zero pages`);
  });
}

/** Pages of the kernel's stable memory the firmware's retention map changed, that the dump holds and does not declare lost. */
function undeclaredFirmwareChanges(
  ctx: RunContext,
  view: { fileOffsetOf(paddr: number): number | undefined },
  declared: readonly PhysRange[],
): { pages: number; first?: number } {
  const entries = ctx.state.firmware?.retention ?? [];
  if (!entries.length || !ctx.state.kernel) return { pages: 0 };
  const changed = mergeRanges(entries.flatMap((e) => e.changedRanges.map(([start, end]) => ({ start, end }))));
  const suspect = subtractRanges(intersectRanges(changed, stableDumpedRanges(ctx)), mergeRanges([...declared]));
  let pages = 0;
  let first: number | undefined;
  for (const r of suspect) {
    for (let a = pageAlignDown(r.start); a < r.end; a += PAGE_SIZE) {
      if (view.fileOffsetOf(a) === undefined) continue;
      pages++;
      first ??= a;
    }
  }
  return { pages, first };
}

/**
 * Verifies the /proc/vmcore view against the truth manifest and decides the outcome:
 * - `dump-corrupt`: any difference from the truth the dump does not declare (a page that differs,
 *   a page missing outside the declared lost ranges, or a page of the reservation in the dump);
 * - `dump-partial`: every difference is declared — the pages the dump lacks all lie in its
 *   lost-ranges note (N pages lost: the declared pages, `pagesDeclaredLost`);
 * - `dump-complete`: every sampled page is there and matches.
 */
export function verifyAgainstTruth(): StageOperator {
  return stage('verify', (ctx) => {
    const view = ctx.state.vmcore;
    const truth = ctx.state.truth;
    if (!view || !truth) throw new SimulationError('verify needs a vmcore view and a truth manifest');
    const declared = view.declaredLost ?? [];
    const check = checkAgainstTruth(
      truth,
      (paddr, dst) => {
        const off = view.fileOffsetOf(paddr);
        if (off === undefined) return false;
        view.read(off, dst);
        return true;
      },
      declared,
    );
    ctx.state.verify = { checked: check.checked, matched: check.matched, firstMismatch: check.mismatched[0] ?? check.missing[0] };
    ctx.metrics.pagesChecked = check.checked;
    ctx.metrics.pagesMatched = check.matched;
    ctx.metrics.fidelity = check.checked ? check.matched / check.checked : 0;
    ctx.metrics.pagesDeclaredLost = lostPageCount(declared);
    ctx.metrics.sampledPagesDeclaredLost = check.declaredLost.length;
    ctx.metrics.sampledPagesUndeclared = check.mismatched.length + check.missing.length;
    // The sample can miss what the firmware wrote (a few thousand pages in a TiB): the retention map
    // says exactly which pages of the kernel's memory changed across the reset. Each one the dump
    // carries as if intact, outside its declared lost ranges, is an undeclared difference.
    const undeclaredChanged = undeclaredFirmwareChanges(ctx, view, declared);
    ctx.metrics.pagesChangedUndeclared = undeclaredChanged.pages;
    if (check.excludedPresent.length) {
      ctx.outcome = { outcome: 'dump-corrupt', reason: `excluded page ${hex(check.excludedPresent[0])} is in the dump` };
    } else if (check.mismatched.length) {
      ctx.outcome = {
        outcome: 'dump-corrupt',
        reason: `${check.mismatched.length} sampled pages differ from the truth and are not declared lost, first at ${hex(check.mismatched[0])}`,
      };
    } else if (check.missing.length) {
      ctx.outcome = {
        outcome: 'dump-corrupt',
        reason: `${check.missing.length} sampled pages are missing and not declared lost, first at ${hex(check.missing[0])}`,
      };
    } else if (undeclaredChanged.pages) {
      ctx.outcome = {
        outcome: 'dump-corrupt',
        reason: `${undeclaredChanged.pages} pages the firmware changed across the reset are in the dump as if intact and not declared lost, first at ${hex(undeclaredChanged.first!)} (the retention map; the ${check.checked} sampled pages missed them)`,
      };
    } else if (declared.length) {
      // Declared pages that held the kernel's memory (not the reservation, not quarantined firmware memory) are lost to the dump.
      const k = ctx.state.kernel;
      const kernelMemory = k ? subtractRanges(k.systemRam, [...k.crashkernel, ...(k.quarantine ?? [])]) : [];
      const lost = totalSize(intersectRanges(declared, kernelMemory)) / PAGE_SIZE;
      ctx.metrics.pagesLost = lost;
      const n = lostPageCount(declared);
      ctx.outcome =
        lost || check.declaredLost.length
          ? {
              outcome: 'dump-partial',
              reason: `every difference from the truth is declared: ${lost} pages of the kernel's memory lost (${n} pages declared, ${check.declaredLost.length} sampled pages among them)`,
            }
          : {
              outcome: 'dump-complete',
              reason: `every sampled page matches the truth; the ${n} pages declared lost are firmware memory the kernel never used`,
            };
    }
    ctx.log.emit(
      'verify',
      'info',
      `${check.matched}/${check.checked} sampled pages match the truth${declared.length ? `; ${check.declaredLost.length} sampled pages in the ${lostPageCount(declared)} pages declared lost` : ''}`,
    );
  });
}
