import {
  EHDR_SIZE,
  EM_X86_64,
  encodeElfHeader,
  encodeNote,
  encodePrStatus,
  encodeProgramHeader,
  ET_CORE,
  formatVmcoreinfo,
  NT_PRSTATUS,
  NT_VMCOREINFO,
  PF_R,
  PF_W,
  PF_X,
  PHDR_SIZE,
  PhysicalMemory,
  PT_LOAD,
  PT_NOTE,
  Rng,
  X86_64_REGS,
  type PhysRange,
  type PrStatus,
  type ProgramHeader,
} from '@efikdump/core';

// Test support only (not exported from the package): an elfcorehdr laid out as kexec-tools
// kexec/crashdump-elf.c builds it (domain reference §1.5) in a small simulated machine.

export const FIXTURE_RAM: PhysRange = { start: 0, end: 64 << 20 };
export const FIXTURE_CRASHKERNEL: PhysRange = { start: 0x2000000, end: 0x3000000 };
export const FIXTURE_HDR_PADDR = 0x2800000;
export const FIXTURE_HDR_SIZE = 16 * 1024;
export const CRASH_NOTES_BASE = 0xf00000;
export const CRASH_NOTES_BYTES = 368;
export const VMCOREINFO_PADDR = 0xf10100;
export const VMCOREINFO_NOTE_BYTES = 4132;
export const KERNEL_TEXT = { paddr: 0x1000000, vaddr: 0xffffffff81000000n, size: 0xa00000 };
export const PAGE_OFFSET = 0xffff888000000000n;
/** System RAM minus the crashkernel reservation; the first range ends mid-page as on real x86 (0x9fc00). */
export const FIXTURE_SYSTEM_RAM: PhysRange[] = [
  { start: 0x1000, end: 0x9fc00 },
  { start: 0x100000, end: 0x2000000 },
  { start: 0x3000000, end: 0x4000000 },
];
export const VMCOREINFO_TEXT = formatVmcoreinfo([
  ['OSRELEASE', '6.1.0-efikdump'],
  ['PAGESIZE', '4096'],
  ['SYMBOL(swapper_pg_dir)', 'ffffffff82a0c000'],
  ['KERNELOFFSET', '0'],
  ['NUMBER(phys_base)', '0'],
  ['CRASHTIME', '1700000000'],
]);

/** ELF header + program headers of an elfcorehdr, zero-padded to `size`. */
export function encodeElfcorehdr(phdrs: readonly ProgramHeader[], size = EHDR_SIZE + phdrs.length * PHDR_SIZE): Uint8Array {
  const out = new Uint8Array(size);
  out.set(encodeElfHeader({ type: ET_CORE, machine: EM_X86_64, flags: 0, phoff: EHDR_SIZE, phnum: phdrs.length }));
  phdrs.forEach((p, i) => out.set(encodeProgramHeader(p), EHDR_SIZE + i * PHDR_SIZE));
  return out;
}

export const noteHeader = (paddr: number, size: number): ProgramHeader => ({
  type: PT_NOTE,
  flags: 0,
  offset: paddr,
  vaddr: 0n,
  paddr,
  filesz: size,
  memsz: size,
  align: 0,
});

export const loadHeader = (paddr: number, size: number, vaddr = PAGE_OFFSET + BigInt(paddr)): ProgramHeader => ({
  type: PT_LOAD,
  flags: PF_R | PF_W | PF_X,
  offset: paddr,
  vaddr,
  paddr,
  filesz: size,
  memsz: size,
  align: 0,
});

export interface CoreFixture {
  memory: PhysicalMemory;
  cpus: PrStatus[];
  phdrs: ProgramHeader[];
  /** The elfcorehdr bytes as written at FIXTURE_HDR_PADDR (FIXTURE_HDR_SIZE long). */
  hdr: Uint8Array;
}

/** A 64 MiB machine whose crashed kernel left crash notes, VMCOREINFO and an elfcorehdr. */
export function buildCoreFixture(options: { seed?: number; cpus?: number } = {}): CoreFixture {
  const seed = options.seed ?? 1;
  const memory = new PhysicalMemory({ seed, ram: [FIXTURE_RAM] });
  const rng = new Rng(seed, 0xf1c5);
  const cpus: PrStatus[] = [];
  const phdrs: ProgramHeader[] = [];
  for (let cpu = 0; cpu < (options.cpus ?? 2); cpu++) {
    const status: PrStatus = { pid: cpu === 0 ? 1234 : 0, regs: X86_64_REGS.map(() => rng.nextU64()) };
    cpus.push(status);
    const buf = new Uint8Array(CRASH_NOTES_BYTES);
    buf.set(encodeNote('CORE', NT_PRSTATUS, encodePrStatus(status)));
    const paddr = CRASH_NOTES_BASE + cpu * 0x400;
    memory.write(paddr, buf);
    phdrs.push(noteHeader(paddr, CRASH_NOTES_BYTES));
  }
  const info = new Uint8Array(VMCOREINFO_NOTE_BYTES);
  info.set(encodeNote('VMCOREINFO', NT_VMCOREINFO, Buffer.from(VMCOREINFO_TEXT, 'latin1')));
  memory.write(VMCOREINFO_PADDR, info);
  phdrs.push(noteHeader(VMCOREINFO_PADDR, VMCOREINFO_NOTE_BYTES));
  phdrs.push(loadHeader(KERNEL_TEXT.paddr, KERNEL_TEXT.size, KERNEL_TEXT.vaddr));
  for (const r of FIXTURE_SYSTEM_RAM) phdrs.push(loadHeader(r.start, r.end - r.start));
  const hdr = encodeElfcorehdr(phdrs, FIXTURE_HDR_SIZE);
  memory.write(FIXTURE_HDR_PADDR, hdr);
  return { memory, cpus, phdrs, hdr };
}
