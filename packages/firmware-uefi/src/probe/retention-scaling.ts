import { PAGE_SIZE, formatSize, hex } from '@efikdump/core';
import { q35BelowFourGBytes } from './q35-layout';
import type { ProfileRange, ResetKind, RetentionMeasurement } from './retention-profile';

/**
 * How one overwritten range moves with guest memory size, as the measurements show it:
 * - `low`: at the same physical address at every size (OVMF's fixed low-memory work areas);
 * - `top`: at the same distance below the top of RAM under 4 GiB (what OVMF allocates top-down
 *   from there: its permanent PEI memory, DXE heaps, loaded images, runtime regions).
 */
export type AnchoredRange =
  | { anchor: 'low'; start: number; end: number; zeroPages: number }
  | { anchor: 'top'; startBelowTop: number; endBelowTop: number; zeroPages: number };

export interface RetentionScaling {
  reset: ResetKind;
  /** The sizes the rule was derived from; it holds exactly at each of them. */
  memorySizes: number[];
  ranges: AnchoredRange[];
}

/**
 * Derives the rule from measurements of one reset type at two or more sizes: every range of
 * the smallest size must reappear, same length, either at the same address or at the same
 * distance below the top of RAM under 4 GiB, at every other size — and nothing else may be
 * overwritten there. Throws a RangeError naming the first range that fits neither.
 */
export function deriveRetentionScaling(measurements: readonly RetentionMeasurement[], reset: ResetKind): RetentionScaling {
  const ms = measurements
    .filter((m) => m.reset === reset)
    .slice()
    .sort((a, b) => a.memoryBytes - b.memoryBytes);
  if (ms.length < 2) throw new RangeError(`${reset}: need measurements at two or more sizes, found ${ms.length}`);
  const [base, ...others] = ms;
  const top = (m: RetentionMeasurement) => q35BelowFourGBytes(m.memoryBytes);
  const same = (a: ProfileRange, start: number, end: number) => a.start === start && a.end === end;
  const ranges: AnchoredRange[] = base.overwritten.map((r) => {
    if (others.every((m) => m.overwritten.some((x) => same(x, r.start, r.end))))
      return { anchor: 'low', start: r.start, end: r.end, zeroPages: r.zeroPages };
    const below = { startBelowTop: top(base) - r.start, endBelowTop: top(base) - r.end };
    if (
      r.end <= top(base) &&
      others.every((m) => m.overwritten.some((x) => same(x, top(m) - below.startBelowTop, top(m) - below.endBelowTop)))
    ) {
      return { anchor: 'top', ...below, zeroPages: r.zeroPages };
    }
    throw new RangeError(
      `${reset}: [${hex(r.start)}, ${hex(r.end)}) at ${formatSize(base.memoryBytes)} is neither at the same address nor at the same distance below the top of RAM at every measured size`,
    );
  });
  for (const m of others) {
    const predicted = predictOverwritten({ reset, memorySizes: [], ranges }, m.memoryBytes);
    const extra = m.overwritten.filter((x) => !predicted.some((p) => same(p, x.start, x.end)));
    if (extra.length)
      throw new RangeError(
        `${reset}: ${formatSize(m.memoryBytes)} also overwrites [${hex(extra[0].start)}, ${hex(extra[0].end)}), which ${formatSize(base.memoryBytes)} does not`,
      );
  }
  return { reset, memorySizes: ms.map((m) => m.memoryBytes), ranges };
}

/** The overwritten ranges the rule predicts for a guest of `memoryBytes` (sorted; a `top` range that would fall below 0 is dropped). */
export function predictOverwritten(scaling: RetentionScaling, memoryBytes: number): ProfileRange[] {
  const top = q35BelowFourGBytes(memoryBytes);
  const out: ProfileRange[] = [];
  for (const r of scaling.ranges) {
    const [start, end] = r.anchor === 'low' ? [r.start, r.end] : [top - r.startBelowTop, top - r.endBelowTop];
    if (start < 0 || end > top) continue;
    out.push({ start, end, pages: (end - start) / PAGE_SIZE, zeroPages: r.zeroPages });
  }
  return out.sort((a, b) => a.start - b.start);
}

/** One line per range: where it sits and how it moves. */
export function describeScaling(s: RetentionScaling): string[] {
  return s.ranges.map((r) =>
    r.anchor === 'low'
      ? `low  [${hex(r.start)}, ${hex(r.end)}) ${(r.end - r.start) / PAGE_SIZE} pages at a fixed address`
      : `top  [top-${hex(r.startBelowTop)}, top-${hex(r.endBelowTop)}) ${(r.startBelowTop - r.endBelowTop) / PAGE_SIZE} pages below the top of RAM under 4 GiB`,
  );
}
