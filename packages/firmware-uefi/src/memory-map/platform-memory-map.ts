import {
  EfiMemoryType,
  EFI_MEMORY_RUNTIME,
  EFI_MEMORY_WB,
  GiB,
  MiB,
  type FirmwareProfile,
  type MemoryDescriptor,
  type PhysRange,
  PAGE_SIZE,
} from '@efikdump/core';
import { measuredMemoryMap } from '../profiles/measured-retention';

/**
 * The address map of a q35-like x86-64 machine: 640 KiB of base memory, the legacy hole up to
 * 1 MiB, low RAM up to 2 GiB (or all of it on small machines), and the rest above 4 GiB.
 * QEMU's q35 splits at 2 GiB once RAM reaches 2.75 GiB (hw/i386/pc_q35.c).
 */
export function platformRam(ramBytes: number): PhysRange[] {
  const lowTop = ramBytes < 2816 * MiB ? ramBytes : 2 * GiB;
  const ranges: PhysRange[] = [
    { start: 0, end: 0xa0000 },
    { start: 0x100000, end: lowTop },
  ];
  if (ramBytes > lowTop) ranges.push({ start: 4 * GiB, end: 4 * GiB + (ramBytes - lowTop) });
  return ranges;
}

/** Firmware's own regions at the top of low RAM, top-down, as an edk2 build places them. */
const FIRMWARE_REGIONS: { type: number; bytes: number; runtime?: boolean }[] = [
  { type: EfiMemoryType.BootServicesData, bytes: 4 * MiB },
  { type: EfiMemoryType.Reserved, bytes: 1792 * 1024 },
  { type: EfiMemoryType.AcpiNvs, bytes: 128 * 1024 },
  { type: EfiMemoryType.AcpiReclaim, bytes: 128 * 1024 },
  { type: EfiMemoryType.RuntimeServicesData, bytes: 1 * MiB, runtime: true },
  { type: EfiMemoryType.RuntimeServicesCode, bytes: 1 * MiB, runtime: true },
  { type: EfiMemoryType.BootServicesCode, bytes: 4 * MiB },
];

/** The EFI memory map (UEFI §7.2) GetMemoryMap returns on this platform. */
export function buildMemoryMap(ramBytes: number): MemoryDescriptor[] {
  const ram = platformRam(ramBytes);
  const low = ram[1];
  const map: MemoryDescriptor[] = [];
  const add = (type: number, start: number, end: number, runtime = false) => {
    if (end > start)
      map.push({ type, start, pages: (end - start) / PAGE_SIZE, attribute: EFI_MEMORY_WB | (runtime ? EFI_MEMORY_RUNTIME : 0n) });
  };
  add(EfiMemoryType.BootServicesData, 0, PAGE_SIZE);
  add(EfiMemoryType.Conventional, PAGE_SIZE, ram[0].end);
  let top = low.end;
  const regions: MemoryDescriptor[] = [];
  for (const r of FIRMWARE_REGIONS) {
    regions.unshift({
      type: r.type,
      start: top - r.bytes,
      pages: r.bytes / PAGE_SIZE,
      attribute: EFI_MEMORY_WB | (r.runtime ? EFI_MEMORY_RUNTIME : 0n),
    });
    top -= r.bytes;
  }
  add(EfiMemoryType.Conventional, low.start, top);
  map.push(...regions);
  if (ram[2]) add(EfiMemoryType.Conventional, ram[2].start, ram[2].end);
  return map;
}

/** The memory map of a profile's firmware: its measured map mapped onto `ramBytes`, or the q35 model. */
export function profileMemoryMap(profile: Pick<FirmwareProfile, 'memoryMap'>, ramBytes: number): MemoryDescriptor[] {
  return profile.memoryMap === 'modelled' ? buildMemoryMap(ramBytes) : measuredMemoryMap(profile.memoryMap, ramBytes);
}
