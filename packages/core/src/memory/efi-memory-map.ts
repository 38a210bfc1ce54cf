import type { MemoryDescriptor } from '../context';
import { mergeRanges, type PhysRange } from './ranges';
import { PAGE_SIZE } from '../units';

// EFI_MEMORY_TYPE values (UEFI 2.10 §7.2, edk2 MdePkg/Include/Uefi/UefiMultiPhase.h).
export const EfiMemoryType = {
  Reserved: 0,
  LoaderCode: 1,
  LoaderData: 2,
  BootServicesCode: 3,
  BootServicesData: 4,
  RuntimeServicesCode: 5,
  RuntimeServicesData: 6,
  Conventional: 7,
  Unusable: 8,
  AcpiReclaim: 9,
  AcpiNvs: 10,
  MemoryMappedIo: 11,
  MemoryMappedIoPortSpace: 12,
  PalCode: 13,
  Persistent: 14,
  Unaccepted: 15,
} as const;

export const EFI_MEMORY_TYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(EfiMemoryType).map(([k, v]) => [v, k]));

// EFI memory attributes (UEFI 2.10 §7.2).
export const EFI_MEMORY_WB = 0x8n;
export const EFI_MEMORY_RUNTIME = 1n << 63n;

/**
 * Types the Linux EFI stub turns into e820 RAM (drivers/firmware/efi/libstub/x86-stub.c
 * setup_e820: loader and boot-services memory become free after ExitBootServices).
 */
const E820_RAM_TYPES: ReadonlySet<number> = new Set([
  EfiMemoryType.LoaderCode,
  EfiMemoryType.LoaderData,
  EfiMemoryType.BootServicesCode,
  EfiMemoryType.BootServicesData,
  EfiMemoryType.Conventional,
]);

/** System RAM as Linux sees it from an EFI memory map. */
export function systemRamFromMemoryMap(map: readonly MemoryDescriptor[]): PhysRange[] {
  return mergeRanges(map.filter((d) => E820_RAM_TYPES.has(d.type)).map((d) => ({ start: d.start, end: d.start + d.pages * PAGE_SIZE })));
}
