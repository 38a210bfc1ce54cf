/** A half-open physical address range [start, end), in bytes. */
export interface PhysRange {
  readonly start: number;
  readonly end: number;
}

export const rangeSize = (r: PhysRange): number => r.end - r.start;

export function totalSize(ranges: readonly PhysRange[]): number {
  return ranges.reduce((sum, r) => sum + rangeSize(r), 0);
}

export function containsRange(outer: PhysRange, inner: PhysRange): boolean {
  return inner.start >= outer.start && inner.end <= outer.end;
}

export function overlaps(a: PhysRange, b: PhysRange): boolean {
  return a.start < b.end && b.start < a.end;
}

/** Sorts and merges touching or overlapping ranges. */
export function mergeRanges(ranges: readonly PhysRange[]): PhysRange[] {
  const sorted = ranges
    .filter((r) => r.end > r.start)
    .slice()
    .sort((a, b) => a.start - b.start);
  const out: PhysRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.start <= last.end) {
      out[out.length - 1] = { start: last.start, end: Math.max(last.end, r.end) };
    } else {
      out.push({ start: r.start, end: r.end });
    }
  }
  return out;
}

/** `ranges` with every part covered by `holes` removed. */
export function subtractRanges(ranges: readonly PhysRange[], holes: readonly PhysRange[]): PhysRange[] {
  let current = mergeRanges(ranges);
  for (const hole of holes) {
    const next: PhysRange[] = [];
    for (const r of current) {
      if (!overlaps(r, hole)) {
        next.push(r);
        continue;
      }
      if (r.start < hole.start) next.push({ start: r.start, end: hole.start });
      if (r.end > hole.end) next.push({ start: hole.end, end: r.end });
    }
    current = next;
  }
  return current;
}

export function intersectRanges(a: readonly PhysRange[], b: readonly PhysRange[]): PhysRange[] {
  const out: PhysRange[] = [];
  for (const x of mergeRanges(a)) {
    for (const y of mergeRanges(b)) {
      const start = Math.max(x.start, y.start);
      const end = Math.min(x.end, y.end);
      if (start < end) out.push({ start, end });
    }
  }
  return mergeRanges(out);
}

export function inRanges(ranges: readonly PhysRange[], addr: number, size = 1): boolean {
  return ranges.some((r) => addr >= r.start && addr + size <= r.end);
}
