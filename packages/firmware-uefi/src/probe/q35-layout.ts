import { GiB, MiB, type PhysRange } from '@efikdump/core';
import type { ProfileRange } from './retention-profile';

/**
 * How QEMU's q35 machine maps one RAM block into guest physical memory (QEMU 7.2
 * hw/i386/pc_q35.c pc_q35_init): with 2.75 GiB or more, the first 2 GiB sit below 4 GiB and the
 * rest from 4 GiB up; with less, all of it sits below 4 GiB. The backing file is that block, in
 * order, so a file offset is a guest physical address below the split and shifted above it.
 */
const Q35_LOWMEM_SPLIT_BYTES = 2816 * MiB; // 0xb0000000
const FOUR_GIB = 4 * GiB;

/** Bytes of guest RAM below 4 GiB. */
export function q35BelowFourGBytes(memoryBytes: number): number {
  return memoryBytes >= Q35_LOWMEM_SPLIT_BYTES ? 2 * GiB : memoryBytes;
}

/** The highest guest physical address of RAM, plus one. */
export function q35RamTop(memoryBytes: number): number {
  const low = q35BelowFourGBytes(memoryBytes);
  return memoryBytes > low ? FOUR_GIB + (memoryBytes - low) : memoryBytes;
}

/** Guest RAM as physical ranges: [0, below-4G) and, on large guests, [4 GiB, top). */
export function q35RamRanges(memoryBytes: number): PhysRange[] {
  const low = q35BelowFourGBytes(memoryBytes);
  return memoryBytes > low
    ? [
        { start: 0, end: low },
        { start: FOUR_GIB, end: q35RamTop(memoryBytes) },
      ]
    : [{ start: 0, end: memoryBytes }];
}

/**
 * Ranges of backing-file offsets as guest physical ranges. Ranges must not span the split
 * (diffRamFile's `breakAt` = q35BelowFourGBytes keeps them apart).
 */
export function backingRangesToPhysical(ranges: readonly ProfileRange[], memoryBytes: number): ProfileRange[] {
  const low = q35BelowFourGBytes(memoryBytes);
  return ranges.map((r) => {
    if (r.end <= low) return { ...r };
    if (r.start < low) throw new RangeError(`range [${r.start}, ${r.end}) spans the q35 RAM split at ${low}`);
    return { ...r, start: r.start - low + FOUR_GIB, end: r.end - low + FOUR_GIB };
  });
}
