import { GiB, PAGE_SIZE, type PhysicalMemory } from '@efikdump/core';
import { DEFAULT_LAYOUT, PAGE_OFFSET, START_KERNEL_MAP, type KernelLayout } from './layout';

// x86-64 4-level paging entry bits (Intel SDM vol. 3 §4.5).
const P = 1n,
  RW = 2n,
  ACCESSED = 0x20n,
  DIRTY = 0x40n,
  PS = 0x80n;
const TABLE = P | RW | ACCESSED | DIRTY;
const HUGE = P | RW | ACCESSED | DIRTY | PS;

const index = (vaddr: bigint, shift: bigint): number => Number((vaddr >> shift) & 511n);

/**
 * Writes init_top_pgt inside the image at `layout`: the direct map (1 GiB pages from PAGE_OFFSET
 * over all physical memory up to `maxPhys`) and the kernel map (2 MiB pages from
 * __START_KERNEL_map over 1 GiB from phys_base, as __startup_64 fixes level2_kernel_pgt up by the
 * load delta), so that dump tools that walk the page tables (makedumpfile, drgn, libkdumpfile) can
 * translate kernel virtual addresses. Returns the physical pages written.
 */
export function writeKernelPageTables(
  memory: PhysicalMemory,
  maxPhys: number,
  layout: KernelLayout = DEFAULT_LAYOUT,
): { start: number; end: number } {
  const tablesPhys = layout.pageTables;
  const pml4 = new DataView(new ArrayBuffer(PAGE_SIZE));
  const kernelPud = new DataView(new ArrayBuffer(PAGE_SIZE));
  const kernelPmd = new DataView(new ArrayBuffer(PAGE_SIZE));
  const kernelPudPhys = tablesPhys + PAGE_SIZE;
  const kernelPmdPhys = tablesPhys + 2 * PAGE_SIZE;
  let nextTable = tablesPhys + 3 * PAGE_SIZE;

  // Kernel map: PML4[511] -> PUD[510] -> 512 × 2 MiB pages over physical phys_base..phys_base + 1 GiB.
  pml4.setBigUint64(index(START_KERNEL_MAP, 39n) * 8, BigInt(kernelPudPhys) | TABLE, true);
  kernelPud.setBigUint64(index(START_KERNEL_MAP, 30n) * 8, BigInt(kernelPmdPhys) | TABLE, true);
  for (let i = 0; i < 512; i++) kernelPmd.setBigUint64(i * 8, ((BigInt(i) << 21n) + BigInt(layout.physBase)) | HUGE, true);

  // Direct map: one PUD page per 512 GiB, 1 GiB pages.
  const gigs = Math.ceil(maxPhys / GiB);
  const puds: { phys: number; view: DataView }[] = [];
  for (let g = 0; g < gigs; g++) {
    const vaddr = PAGE_OFFSET + (BigInt(g) << 30n);
    const slot = Math.floor(g / 512);
    if (!puds[slot]) {
      puds[slot] = { phys: nextTable, view: new DataView(new ArrayBuffer(PAGE_SIZE)) };
      nextTable += PAGE_SIZE;
      pml4.setBigUint64(index(vaddr, 39n) * 8, BigInt(puds[slot].phys) | TABLE, true);
    }
    puds[slot].view.setBigUint64(index(vaddr, 30n) * 8, (BigInt(g) << 30n) | HUGE, true);
  }

  const bytes = (v: DataView) => new Uint8Array(v.buffer);
  memory.write(tablesPhys, bytes(pml4));
  memory.write(kernelPudPhys, bytes(kernelPud));
  memory.write(kernelPmdPhys, bytes(kernelPmd));
  for (const pud of puds) memory.write(pud.phys, bytes(pud.view));
  return { start: tablesPhys, end: nextTable };
}
