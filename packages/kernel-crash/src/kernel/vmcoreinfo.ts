import { encodeNote, formatVmcoreinfo, NT_VMCOREINFO, PAGE_SIZE } from '@efikdump/core';
import { createHash } from 'node:crypto';
import { INIT_UTS_NS_PHYS, kernelVirt, KERNEL_IMAGE_BYTES, KERNEL_PHYS, OSRELEASE, PAGE_TABLES_PHYS } from './layout';

/** VMCOREINFO_NOTE_SIZE: two note headers, the padded name and a page of text. */
export const VMCOREINFO_NOTE_BYTES = 12 * 2 + 12 + PAGE_SIZE;

const hexNo0x = (v: bigint): string => v.toString(16);

/** The lines the readers need (domain reference §2.2), in the kernel's order and formats. */
export function vmcoreinfoEntries(crashTimeUnix?: number): [string, string][] {
  const entries: [string, string][] = [
    ['OSRELEASE', OSRELEASE],
    ['BUILD-ID', createHash('sha1').update(OSRELEASE).digest('hex')],
    ['PAGESIZE', String(PAGE_SIZE)],
    ['SYMBOL(init_uts_ns)', hexNo0x(kernelVirt(INIT_UTS_NS_PHYS))],
    ['OFFSET(uts_namespace.name)', '0'],
    ['SYMBOL(swapper_pg_dir)', hexNo0x(kernelVirt(PAGE_TABLES_PHYS))],
    ['SYMBOL(_stext)', hexNo0x(kernelVirt(KERNEL_PHYS))],
    ['NUMBER(phys_base)', '0'],
    ['SYMBOL(init_top_pgt)', hexNo0x(kernelVirt(PAGE_TABLES_PHYS))],
    ['NUMBER(pgtable_l5_enabled)', '0'],
    ['NUMBER(KERNEL_IMAGE_SIZE)', String(KERNEL_IMAGE_BYTES < 1 << 30 ? 1 << 30 : KERNEL_IMAGE_BYTES)],
    ['NUMBER(sme_mask)', '0'],
    ['KERNELOFFSET', '0'],
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
