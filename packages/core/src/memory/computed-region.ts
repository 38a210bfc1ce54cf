import { SimulationError } from '../errors';
import { hex, PAGE_SIZE } from '../units';
import type { GeneratedKind } from './page-kinds';
import type { PhysRange } from './ranges';

/**
 * A range of never-written frames whose content is computed on demand from the rest of the machine
 * (the kernel's `struct page` array describing every frame, say) instead of being stored. Like a
 * kind fill it costs no page memory; unlike one, its bytes are not a function of the frame alone.
 */
export interface ComputedRegion extends PhysRange {
  /** The kind `PhysicalMemory.kindOf` reports for these frames (what the bytes stand for). */
  readonly kind: GeneratedKind;
  readonly label: string;
  /** Writes the content of frame `pfn` (inside the region) into `dst` (PAGE_SIZE bytes). */
  generate(pfn: number, dst: Uint8Array): void;
  /** The kind of one frame, where it is not `kind` for all (a copy of mixed memory). */
  kindAt?(pfn: number): GeneratedKind;
}

/** [start, end) of `r`, computed as `r` computes it (works for class instances as for literals). */
function piece(r: ComputedRegion, start: number, end: number): ComputedRegion {
  return {
    start,
    end,
    kind: r.kind,
    label: r.label,
    generate: (pfn, dst) => r.generate(pfn, dst),
    ...(r.kindAt ? { kindAt: (pfn: number) => r.kindAt!(pfn) } : {}),
  };
}

/** The computed regions of one machine, sorted and disjoint; a later `fill` of memory trims them. */
export class ComputedRegions {
  private regions: ComputedRegion[] = [];

  get list(): readonly ComputedRegion[] {
    return this.regions;
  }

  add(region: ComputedRegion): void {
    if (region.start % PAGE_SIZE || region.end % PAGE_SIZE || region.end <= region.start) {
      throw new SimulationError(`computed region ${hex(region.start)}-${hex(region.end)} is not a page-aligned range`);
    }
    if (this.regions.some((r) => r.start < region.end && region.start < r.end)) {
      throw new SimulationError(`computed region "${region.label}" overlaps another computed region`);
    }
    this.regions = [...this.regions, region].sort((a, b) => a.start - b.start);
  }

  /** Removes `range` from every region (memory there was re-filled and no longer computed). */
  trim(range: PhysRange): void {
    const kept: ComputedRegion[] = [];
    for (const r of this.regions) {
      if (r.end <= range.start || r.start >= range.end) {
        kept.push(r);
        continue;
      }
      if (r.start < range.start) kept.push(piece(r, r.start, range.start));
      if (r.end > range.end) kept.push(piece(r, range.end, r.end));
    }
    this.regions = kept;
  }

  find(addr: number): ComputedRegion | undefined {
    const rs = this.regions;
    let lo = 0;
    let hi = rs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const r = rs[mid];
      if (addr < r.start) hi = mid - 1;
      else if (addr >= r.end) lo = mid + 1;
      else return r;
    }
    return undefined;
  }
}
