import { KERNEL_DATA_BYTES, KERNEL_IMAGE_BYTES, KERNEL_PHYS, KERNEL_TEXT_BYTES, MiB, type PhysRange } from '@efikdump/core';

/**
 * Where the simulated x86-64 kernel keeps what the dump tools look for. The image is linked for
 * LOAD_PHYSICAL_ADDR (16 MiB) and may be loaded elsewhere (physical relocation, CONFIG_RELOCATABLE):
 * the loader's base minus 16 MiB is `phys_base`, kernel virtual addresses never move, and a kernel
 * virtual address maps to __START_KERNEL_map + paddr − phys_base (arch/x86/include/asm/page_64.h
 * `__phys_addr_symbol`). Virtual KASLR is not modelled (KERNELOFFSET 0).
 */
export const START_KERNEL_MAP = 0xffffffff80000000n;
export const PAGE_OFFSET = 0xffff888000000000n;
// LOAD_PHYSICAL_ADDR and the image's size are shared Linux boot facts (crashkernel= placement needs them): core holds them.
export { KERNEL_PHYS, KERNEL_TEXT_BYTES, KERNEL_DATA_BYTES, KERNEL_IMAGE_BYTES };
/** x86_64 CONFIG_PHYSICAL_ALIGN on Debian's 6.1 config: a relocated image starts on a 2 MiB boundary. */
export const PHYSICAL_ALIGN = 2 * MiB;
// Offsets inside the image of what the dump tools read.
const PERCPU_OFFSET = KERNEL_TEXT_BYTES + 4 * MiB;
const PAGE_TABLES_OFFSET = KERNEL_TEXT_BYTES + 12 * MiB;
const VMCOREINFO_OFFSET = KERNEL_TEXT_BYTES + 14 * MiB;
const INIT_UTS_NS_OFFSET = VMCOREINFO_OFFSET + 64 * 1024;
const MEM_MAP_PTR_OFFSET = INIT_UTS_NS_OFFSET + 4096;
export const CRASH_NOTES_OFFSET_IN_PAGE = 0x480;

/** The image loaded at `base`: where each structure is in physical memory, and phys_base. */
export interface KernelLayout {
  /** Physical address of _text. */
  base: number;
  /** base − LOAD_PHYSICAL_ADDR, as NUMBER(phys_base) gives it. */
  physBase: number;
  image: PhysRange;
  text: PhysRange;
  data: PhysRange;
  /** Per-CPU areas: CPU n's crash_notes buffer lives in page n of this area. */
  percpu: number;
  /** Page tables: init_top_pgt (swapper_pg_dir), the kernel-map PUD and PMD, then direct-map PUDs. */
  pageTables: number;
  /** The static VMCOREINFO buffer's place in the image (the note itself comes from the buddy allocator). */
  vmcoreinfo: number;
  initUtsNs: number;
  /** The kernel variable `mem_map` (FLATMEM): an 8-byte pointer to the struct page array. */
  memMapPtr: number;
}

/**
 * The layout of the image loaded at `base` (a PHYSICAL_ALIGN multiple at or above 16 MiB: the x86
 * decompressor never runs the kernel below LOAD_PHYSICAL_ADDR).
 */
export function kernelLayout(base: number = KERNEL_PHYS): KernelLayout {
  if (!Number.isSafeInteger(base) || base < KERNEL_PHYS || base % PHYSICAL_ALIGN) {
    throw new RangeError(`kernel image base ${base} is not a ${PHYSICAL_ALIGN}-byte multiple at or above ${KERNEL_PHYS}`);
  }
  return {
    base,
    physBase: base - KERNEL_PHYS,
    image: { start: base, end: base + KERNEL_IMAGE_BYTES },
    text: { start: base, end: base + KERNEL_TEXT_BYTES },
    data: { start: base + KERNEL_TEXT_BYTES, end: base + KERNEL_IMAGE_BYTES },
    percpu: base + PERCPU_OFFSET,
    pageTables: base + PAGE_TABLES_OFFSET,
    vmcoreinfo: base + VMCOREINFO_OFFSET,
    initUtsNs: base + INIT_UTS_NS_OFFSET,
    memMapPtr: base + MEM_MAP_PTR_OFFSET,
  };
}

/** The layout with phys_base 0 (the image at 16 MiB). */
export const DEFAULT_LAYOUT: Readonly<KernelLayout> = kernelLayout();
// The default layout's addresses under their old names.
export const PERCPU_PHYS = DEFAULT_LAYOUT.percpu;
export const PAGE_TABLES_PHYS = DEFAULT_LAYOUT.pageTables;
export const VMCOREINFO_PHYS = DEFAULT_LAYOUT.vmcoreinfo;
export const INIT_UTS_NS_PHYS = DEFAULT_LAYOUT.initUtsNs;
export const MEM_MAP_PTR_PHYS = DEFAULT_LAYOUT.memMapPtr;

/** The kernel-map virtual address of physical `paddr` in an image relocated by `physBase`. */
export const kernelVirt = (paddr: number, physBase = 0): bigint => START_KERNEL_MAP + BigInt(paddr) - BigInt(physBase);
export const directMapVirt = (paddr: number): bigint => PAGE_OFFSET + BigInt(paddr);

/** The layout of the image a kernel state describes (`kernelText.paddr` is _text's physical address). */
export function layoutOfKernelText(kernelText: { paddr: number }): KernelLayout {
  return kernelLayout(kernelText.paddr);
}

export const OSRELEASE = '6.1.0-efikdump';
