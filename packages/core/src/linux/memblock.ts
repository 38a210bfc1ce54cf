import type { MemoryDescriptor } from '../context';
import { EfiMemoryType } from '../memory/efi-memory-map';
import { mergeRanges, subtractRanges, type PhysRange } from '../memory/ranges';
import type { Rng } from '../rng';
import { MiB, PAGE_SIZE, alignDown } from '../units';

/**
 * What memblock holds reserved when x86_64 `setup_arch()` reaches `reserve_crashkernel()` (Linux
 * 6.1 arch/x86/kernel/setup.c), as far as it decides where the reservation goes:
 * - everything the EFI memory map does not give as conventional memory: runtime code/data, ACPI,
 *   reserved regions (never System RAM), and boot-services code/data, which
 *   `efi_reserve_boot_services()` reserved earlier in setup_arch and `efi_free_boot_services()`
 *   only frees after boot;
 * - the first 1 MiB (`reserve_real_mode`, the low-memory trim);
 * - the kernel image (`memblock_reserve(_text, _end)`) and the initrd (`reserve_initrd`).
 * memblock then allocates top-down: the crashkernel region ends below the lowest of the reserved
 * ranges near the top of RAM.
 */
export interface EarlyReservations {
  firmware: PhysRange[];
  lowMemory: PhysRange;
  kernelImage: PhysRange;
  initrd?: PhysRange;
  /** Extra ranges a design keeps the reservation away from (kdump.reservation avoid-measured). */
  avoid: PhysRange[];
}

/** [modelled] The 1st kernel's initrd: a small initramfs (the real path used busybox; a distribution's is tens of MiB). */
export const INITRD_BYTES = 8 * MiB;
/** x86_64 CONFIG_PHYSICAL_ALIGN on Debian's 6.1 config: where KASLR may put the image, in steps of 2 MiB. */
export const KASLR_ALIGN = 2 * MiB;
const LOW_1M = { start: 0, end: 0x100000 };

const end = (d: MemoryDescriptor) => d.start + d.pages * PAGE_SIZE;

/** Conventional memory of the EFI memory map. */
export function conventionalMemory(map: readonly MemoryDescriptor[]): PhysRange[] {
  return mergeRanges(map.filter((d) => d.type === EfiMemoryType.Conventional).map((d) => ({ start: d.start, end: end(d) })));
}

/** Everything the map names that is not conventional memory (the firmware's footprint and its own regions). */
export function firmwareRegions(map: readonly MemoryDescriptor[]): PhysRange[] {
  return mergeRanges(map.filter((d) => d.type !== EfiMemoryType.Conventional).map((d) => ({ start: d.start, end: end(d) })));
}

/** Boot-services and loader code/data: what the firmware used during POST and the OS may reuse after boot. */
export function bootServicesFootprint(map: readonly MemoryDescriptor[]): PhysRange[] {
  const types: number[] = [
    EfiMemoryType.BootServicesCode,
    EfiMemoryType.BootServicesData,
    EfiMemoryType.LoaderCode,
    EfiMemoryType.LoaderData,
  ];
  return mergeRanges(map.filter((d) => types.includes(d.type)).map((d) => ({ start: d.start, end: end(d) })));
}

/**
 * Where the EFI stub's `efi_allocate_pages` puts the initrd: top-down (AllocateMaxAddress) in
 * conventional memory below 4 GiB, page aligned.
 */
export function placeInitrd(map: readonly MemoryDescriptor[], bytes = INITRD_BYTES): PhysRange | undefined {
  const free = conventionalMemory(map).filter((r) => r.start < 2 ** 32);
  for (let i = free.length - 1; i >= 0; i--) {
    const top = Math.min(free[i].end, 2 ** 32);
    const start = alignDown(top - bytes, PAGE_SIZE);
    if (start >= free[i].start) return { start, end: start + bytes };
  }
  return undefined;
}

/** 2 MiB-aligned starts from 16 MiB up where an image of `imageBytes` fits inside one of `free`. */
export function imageSlots(free: readonly PhysRange[], imageBytes: number): number[] {
  const slots: number[] = [];
  for (const r of free) {
    for (
      let s = Math.max(16 * MiB, Math.ceil(r.start / KASLR_ALIGN) * KASLR_ALIGN);
      s + imageBytes <= r.end && slots.length < 1 << 20;
      s += KASLR_ALIGN
    )
      slots.push(s);
  }
  return slots;
}

/**
 * [modelled] Where physical KASLR puts the image: a seeded 2 MiB-aligned slot in conventional
 * memory from 16 MiB up (the EFI stub's efi_random_alloc over the memory map). One boot in the real
 * runs put `crashkernel=192M` 208 MiB lower than without KASLR because of it.
 */
export function kaslrImageRange(map: readonly MemoryDescriptor[], imageBytes: number, rng: Rng): PhysRange {
  const slots = imageSlots(conventionalMemory(map), imageBytes);
  const start = slots.length ? slots[rng.below(slots.length)] : 16 * MiB;
  return { start, end: start + imageBytes };
}

/** The reserved ranges memblock searches around, merged. */
export function memblockReservedAtCrashkernel(r: EarlyReservations): PhysRange[] {
  return mergeRanges([...r.firmware, r.lowMemory, r.kernelImage, ...(r.initrd ? [r.initrd] : []), ...r.avoid]);
}

/** Early reservations of a boot on `map` with the image at `kernelImage`. */
export function earlyReservations(
  map: readonly MemoryDescriptor[],
  kernelImage: PhysRange,
  avoid: readonly PhysRange[] = [],
): EarlyReservations {
  const initrd = placeInitrd(map);
  return { firmware: firmwareRegions(map), lowMemory: LOW_1M, kernelImage, ...(initrd ? { initrd } : {}), avoid: [...avoid] };
}

/** The memory the kernel's allocator has after boot: System RAM less what stays reserved. */
export function freeAfterBoot(systemRam: readonly PhysRange[], held: readonly PhysRange[]): PhysRange[] {
  return subtractRanges(systemRam, mergeRanges(held));
}
