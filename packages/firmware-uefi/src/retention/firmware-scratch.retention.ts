import { injectable } from 'tsyringe';
import {
  EfiMemoryType,
  intersectRanges,
  mergeRanges,
  PAGE_SIZE,
  SimulationError,
  systemRamFromMemoryMap,
  type MemoryDescriptor,
  type PhysRange,
  type RetentionPolicy,
  type RetentionReport,
  type RunContext,
  type ScratchRangeSpec,
} from '@efikdump/core';
import { profileMemoryMap } from '../memory-map/platform-memory-map';
import { measuredMoment, measuredOverwritten } from '../profiles/measured-retention';
import { firmwareOf, overwrite } from './retention-support';

const end = (d: MemoryDescriptor) => d.start + d.pages * PAGE_SIZE;

/**
 * The physical ranges a profile's scratch list names on a machine with this memory map (clipped
 * to RAM). A `measured` entry maps the measured ranges onto this memory size by the measured
 * rule and keeps only their System RAM frames: what the measured firmware wrote elsewhere (ACPI
 * NVS, runtime, reserved regions) was never the OS's memory, so no dump can lose it.
 */
export function resolveScratchRanges(
  specs: readonly ScratchRangeSpec[],
  map: readonly MemoryDescriptor[],
  ram: readonly PhysRange[],
  ramBytes?: number,
  reset: 'warm' | 'cold' = 'warm',
): { label: string; ranges: PhysRange[] }[] {
  return specs.map((s) => {
    let ranges: PhysRange[];
    if ('measured' in s) {
      if (ramBytes === undefined) throw new SimulationError(`scratch range "${s.label}" (measured) needs the machine's memory size`);
      const kind = s.reset === 'as-reset' ? reset : s.reset;
      ranges = intersectRanges(
        measuredOverwritten(s.measured, kind, ramBytes).map((r) => ({ start: r.start, end: r.end })),
        systemRamFromMemoryMap(map),
      );
    } else if ('memoryType' in s) {
      const type = (EfiMemoryType as Record<string, number>)[s.memoryType];
      if (type === undefined) throw new SimulationError(`unknown EFI memory type ${s.memoryType}`);
      ranges = map.filter((d) => d.type === type).map((d) => ({ start: d.start, end: end(d) }));
    } else if ('belowFirmwareBytes' in s) {
      // The firmware's own regions sit at the top of low RAM; its allocator hands out the conventional memory just below them first.
      const conventional = map.filter((d) => d.type === EfiMemoryType.Conventional).sort((a, b) => end(b) - end(a));
      const below4g = conventional.filter((d) => end(d) <= 2 ** 32);
      const top = below4g[0];
      ranges = top ? [{ start: Math.max(0, end(top) - s.belowFirmwareBytes), end: end(top) }] : [];
    } else {
      ranges = [{ start: s.start, end: s.start + s.bytes }];
    }
    return { label: s.label, ranges: intersectRanges(ranges, ram) };
  });
}

/**
 * POST overwrites the firmware's working memory (domain reference §5.7 [analysis], §5.9): low
 * memory, its heaps and stacks, the images it loads, training buffers, as the profile lists them.
 */
@injectable()
export class FirmwareScratchRetention implements RetentionPolicy {
  readonly name = 'firmware-scratch';

  apply(ctx: RunContext, reset: 'warm' | 'cold' = 'warm'): RetentionReport {
    const fw = firmwareOf(ctx, this.name);
    const map = ctx.state.memoryMap ?? profileMemoryMap(fw.profile, ctx.machine.ramBytes);
    const resolved = resolveScratchRanges(fw.profile.scratch, map, ctx.machine.memory.ram, ctx.machine.ramBytes, reset);
    const all = mergeRanges(resolved.flatMap((r) => r.ranges));
    const measured = fw.profile.scratch.flatMap((s) =>
      'measured' in s ? [`${s.measured} (${s.reset === 'as-reset' ? reset : s.reset}, ${measuredMoment(s.measured)})`] : [],
    );
    return overwrite(
      ctx,
      this.name,
      all,
      'slab',
      'firmware scratch',
      measured.length ? `measured: ${measured.join(', ')}, System RAM frames only` : undefined,
    );
  }
}
