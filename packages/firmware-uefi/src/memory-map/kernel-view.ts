import {
  EfiMemoryType as T,
  EFI_MEMORY_RUNTIME,
  mergeRanges,
  intersectRanges,
  PAGE_SIZE,
  type MemoryDescriptor,
  type PhysRange,
} from '@efikdump/core';

/** EFI "specific purpose" memory: Linux keeps it out of System RAM unless efi=nosoftreserve (UEFI §7.2). */
export const EFI_MEMORY_SP = 0x40000n;

// e820 types (Linux arch/x86/include/asm/e820/types.h).
export const E820 = { RAM: 1, RESERVED: 2, ACPI: 3, NVS: 4, UNUSABLE: 5, PMEM: 7, SOFT_RESERVED: 0xefffffff } as const;

export interface E820Entry extends PhysRange {
  type: number;
}

/** The e820 type the Linux EFI stub gives an EFI memory type (drivers/firmware/efi/libstub/x86-stub.c setup_e820). */
export function e820TypeOf(d: MemoryDescriptor): number {
  switch (d.type) {
    case T.LoaderCode:
    case T.LoaderData:
    case T.BootServicesCode:
    case T.BootServicesData:
    case T.Conventional:
      return d.attribute & EFI_MEMORY_SP ? E820.SOFT_RESERVED : E820.RAM;
    case T.AcpiReclaim:
      return E820.ACPI;
    case T.AcpiNvs:
      return E820.NVS;
    case T.Unusable:
      return E820.UNUSABLE;
    case T.Persistent:
      return E820.PMEM;
    default:
      return E820.RESERVED;
  }
}

/** The kernel's view: the e820 map the stub builds from GetMemoryMap, adjacent entries of one type merged. */
export function e820FromMemoryMap(map: readonly MemoryDescriptor[]): E820Entry[] {
  const sorted = [...map].sort((a, b) => a.start - b.start);
  const out: E820Entry[] = [];
  for (const d of sorted) {
    const e = { start: d.start, end: d.start + d.pages * PAGE_SIZE, type: e820TypeOf(d) };
    const last = out[out.length - 1];
    if (last && last.type === e.type && last.end === e.start) out[out.length - 1] = { ...last, end: e.end };
    else out.push(e);
  }
  return out;
}

/** Regions with EFI_MEMORY_RUNTIME: what SetVirtualAddressMap maps and the kernel must never touch. */
export function runtimeRegions(map: readonly MemoryDescriptor[]): MemoryDescriptor[] {
  return map.filter((d) => d.attribute & EFI_MEMORY_RUNTIME);
}

const IOMEM_NAMES: Record<number, string> = {
  [E820.RAM]: 'System RAM',
  [E820.RESERVED]: 'Reserved',
  [E820.ACPI]: 'ACPI Tables',
  [E820.NVS]: 'ACPI Non-volatile Storage',
  [E820.UNUSABLE]: 'Unusable memory',
  [E820.PMEM]: 'Persistent Memory',
  [E820.SOFT_RESERVED]: 'Soft Reserved',
};

export interface IomemEntry extends PhysRange {
  name: string;
  children?: IomemEntry[];
}

/**
 * /proc/iomem as the 1st kernel leaves it: the e820 map, with the crashkernel reservation as a
 * "Crash kernel" child of the System RAM it was carved from (Linux kernel/crash_core.c).
 */
export function iomemView(map: readonly MemoryDescriptor[], crashkernel: readonly PhysRange[] = []): IomemEntry[] {
  return e820FromMemoryMap(map).map((e) => {
    const entry: IomemEntry = { start: e.start, end: e.end, name: IOMEM_NAMES[e.type] ?? 'Reserved' };
    if (e.type === E820.RAM) {
      const inside = intersectRanges([e], crashkernel);
      if (inside.length) entry.children = inside.map((r) => ({ ...r, name: 'Crash kernel' }));
    }
    return entry;
  });
}

/** How the firmware's map after a reset describes the kernel's reservation: the EFI types over each part of it. */
export function reservationInFirmwareMap(
  map: readonly MemoryDescriptor[],
  crashkernel: readonly PhysRange[],
): { start: number; end: number; type: number }[] {
  const out: { start: number; end: number; type: number }[] = [];
  for (const d of map) {
    for (const r of intersectRanges([{ start: d.start, end: d.start + d.pages * PAGE_SIZE }], mergeRanges(crashkernel)))
      out.push({ ...r, type: d.type });
  }
  return out.sort((a, b) => a.start - b.start);
}
