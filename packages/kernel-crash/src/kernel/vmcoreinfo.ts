import { encodeNote, formatVmcoreinfo, NT_VMCOREINFO, PAGE_SIZE } from '@efikdump/core';
import { createHash } from 'node:crypto';
import { DEFAULT_LAYOUT, kernelVirt, KERNEL_IMAGE_BYTES, OSRELEASE, type KernelLayout } from './layout';
import {
  PAGE_BUDDY_MAPCOUNT_VALUE,
  PAGE_FLAGS_OFFSET,
  PAGE_LRU_OFFSET,
  PAGE_MAPCOUNT_OFFSET,
  PAGE_MAPPING_OFFSET,
  PAGE_OFFLINE_MAPCOUNT_VALUE,
  PAGE_PRIVATE_OFFSET,
  PAGE_REFCOUNT_OFFSET,
  PG_HEAD,
  PG_HWPOISON,
  PG_LRU,
  PG_PRIVATE,
  PG_SLAB,
  PG_SWAPBACKED,
  PG_SWAPCACHE,
  STRUCT_PAGE_BYTES,
} from './mem-map';

/** VMCOREINFO_NOTE_SIZE: two note headers, the padded name and a page of text. */
export const VMCOREINFO_NOTE_BYTES = 12 * 2 + 12 + PAGE_SIZE;

const hexNo0x = (v: bigint): string => v.toString(16);

/**
 * The lines the readers need (domain reference §2.2), in the kernel's order and formats, for the
 * image at `layout`: symbols are kernel virtual addresses (they do not move with the image),
 * NUMBER(phys_base) says where the image is (kernel/crash_core.c, arch/x86/kernel/machine_kexec_64.c).
 */
export function vmcoreinfoEntries(crashTimeUnix?: number, layout: KernelLayout = DEFAULT_LAYOUT): [string, string][] {
  const virt = (paddr: number) => hexNo0x(kernelVirt(paddr, layout.physBase));
  const entries: [string, string][] = [
    ['OSRELEASE', OSRELEASE],
    ['BUILD-ID', createHash('sha1').update(OSRELEASE).digest('hex')],
    ['PAGESIZE', String(PAGE_SIZE)],
    ['SYMBOL(init_uts_ns)', virt(layout.initUtsNs)],
    ['OFFSET(uts_namespace.name)', '0'],
    ['SYMBOL(swapper_pg_dir)', virt(layout.pageTables)],
    ['SYMBOL(_stext)', virt(layout.text.start)],
    ['NUMBER(phys_base)', String(layout.physBase)],
    ['SYMBOL(init_top_pgt)', virt(layout.pageTables)],
    ['NUMBER(pgtable_l5_enabled)', '0'],
    ['NUMBER(KERNEL_IMAGE_SIZE)', String(KERNEL_IMAGE_BYTES < 1 << 30 ? 1 << 30 : KERNEL_IMAGE_BYTES)],
    ['NUMBER(sme_mask)', '0'],
    ['KERNELOFFSET', '0'],
    // The memory model (FLATMEM) and struct page, as makedumpfile needs them to filter (-d 2..31)
    // and, once a VMCOREINFO note exists, even for -d 1 (domain reference §2.2, measured on 1.7.2).
    ['SYMBOL(mem_map)', virt(layout.memMapPtr)],
    ['SIZE(page)', String(STRUCT_PAGE_BYTES)],
    ['OFFSET(page.flags)', String(PAGE_FLAGS_OFFSET)],
    ['OFFSET(page._refcount)', String(PAGE_REFCOUNT_OFFSET)],
    ['OFFSET(page.mapping)', String(PAGE_MAPPING_OFFSET)],
    ['OFFSET(page.lru)', String(PAGE_LRU_OFFSET)],
    ['OFFSET(page._mapcount)', String(PAGE_MAPCOUNT_OFFSET)],
    ['OFFSET(page.private)', String(PAGE_PRIVATE_OFFSET)],
    ['OFFSET(page.compound_head)', String(PAGE_LRU_OFFSET)],
    ['OFFSET(list_head.next)', '0'],
    ['OFFSET(list_head.prev)', '8'],
    ['NUMBER(PG_lru)', String(PG_LRU)],
    ['NUMBER(PG_private)', String(PG_PRIVATE)],
    ['NUMBER(PG_swapcache)', String(PG_SWAPCACHE)],
    ['NUMBER(PG_swapbacked)', String(PG_SWAPBACKED)],
    ['NUMBER(PG_slab)', String(PG_SLAB)],
    ['NUMBER(PG_hwpoison)', String(PG_HWPOISON)],
    ['NUMBER(PG_head_mask)', String(1 << PG_HEAD)],
    ['NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)', String(PAGE_BUDDY_MAPCOUNT_VALUE)],
    ['NUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)', String(PAGE_OFFLINE_MAPCOUNT_VALUE)],
  ];
  if (crashTimeUnix !== undefined) entries.push(['CRASHTIME', String(crashTimeUnix)]);
  return entries;
}

/** The VMCOREINFO note buffer (VMCOREINFO_NOTE_BYTES) with the given lines. */
export function encodeVmcoreinfoBuffer(entries: [string, string][]): Uint8Array {
  const text = Buffer.from(formatVmcoreinfo(entries), 'ascii');
  const out = new Uint8Array(VMCOREINFO_NOTE_BYTES);
  out.set(encodeNote('VMCOREINFO', NT_VMCOREINFO, text), 0);
  return out;
}
