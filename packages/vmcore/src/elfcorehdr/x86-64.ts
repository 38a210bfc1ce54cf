/** __START_KERNEL_map (Linux arch/x86/include/asm/page_64_types.h): the kernel text mapping and modules live above it. */
export const START_KERNEL_MAP = 0xffffffff80000000n;

/**
 * True for a PT_LOAD whose virtual address is in the kernel text mapping (domain reference §1.5):
 * that segment duplicates RAM another PT_LOAD (the direct map) also holds.
 */
export function isKernelTextMapping(vaddr: bigint): boolean {
  return BigInt.asUintN(64, vaddr) >= START_KERNEL_MAP;
}

/**
 * Of the segments containing a physical address, the one a reader should use: the first that is
 * not the kernel-text mapping, else the first. `segments` are in program-header order.
 */
export function preferDirectMap<T extends { vaddr: bigint }>(segments: readonly T[]): T | undefined {
  return segments.find((s) => !isKernelTextMapping(s.vaddr)) ?? segments[0];
}
