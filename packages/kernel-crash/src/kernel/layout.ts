import { MiB } from '@efikdump/core';

/**
 * Where the simulated x86-64 kernel keeps what the dump tools look for. The image is loaded at
 * 16 MiB with KASLR off (`nokaslr`, as kdump configurations use), so phys_base is 0 and kernel
 * virtual addresses are __START_KERNEL_map + physical address (arch/x86/include/asm/page_64_types.h).
 */
export const START_KERNEL_MAP = 0xffffffff80000000n;
export const PAGE_OFFSET = 0xffff888000000000n;
export const KERNEL_PHYS = 16 * MiB;
export const KERNEL_TEXT_BYTES = 16 * MiB;
export const KERNEL_DATA_BYTES = 16 * MiB;
export const KERNEL_IMAGE_BYTES = KERNEL_TEXT_BYTES + KERNEL_DATA_BYTES;
/** Per-CPU areas: CPU n's crash_notes buffer lives in page n of this area. */
export const PERCPU_PHYS = KERNEL_PHYS + KERNEL_TEXT_BYTES + 4 * MiB;
export const CRASH_NOTES_OFFSET_IN_PAGE = 0x480;
/** Page tables: init_top_pgt (swapper_pg_dir), the kernel-map PUD and PMD, then direct-map PUDs. */
export const PAGE_TABLES_PHYS = KERNEL_PHYS + KERNEL_TEXT_BYTES + 12 * MiB;
export const VMCOREINFO_PHYS = KERNEL_PHYS + KERNEL_TEXT_BYTES + 14 * MiB;
export const INIT_UTS_NS_PHYS = VMCOREINFO_PHYS + 64 * 1024;
/** The kernel variable `mem_map` (FLATMEM): an 8-byte pointer to the struct page array. */
export const MEM_MAP_PTR_PHYS = INIT_UTS_NS_PHYS + 4096;

export const kernelVirt = (paddr: number): bigint => START_KERNEL_MAP + BigInt(paddr);
export const directMapVirt = (paddr: number): bigint => PAGE_OFFSET + BigInt(paddr);

export const OSRELEASE = '6.1.0-efikdump';
