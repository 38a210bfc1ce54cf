import {
  EHDR_SIZE, EM_X86_64, encodeElfHeader, encodeProgramHeader, ET_CORE, PF_R, PF_W, PF_X, PHDR_SIZE, PT_LOAD, PT_NOTE,
  subtractRanges, type PhysRange,
} from '@efikdump/core';
import { directMapVirt } from '../kernel/layout';

export interface ElfCoreHeaderInput {
  /** Physical address of each CPU's crash_notes buffer and the buffer size. */
  crashNotes: number[];
  crashNotesBytes: number;
  vmcoreinfo: { paddr: number; size: number };
  kernelText: { paddr: number; vaddr: bigint; size: number };
  systemRam: PhysRange[];
  crashkernel: PhysRange[];
}

/**
 * The elfcorehdr as kexec-tools builds it before the crash (kexec/crashdump-elf.c): an ET_CORE
 * header, one PT_NOTE per CPU and one for VMCOREINFO (p_offset = p_paddr = physical address),
 * the kernel-text PT_LOAD, and one PT_LOAD per System RAM range with the reservation left out.
 */
export function buildElfCoreHeader(input: ElfCoreHeaderInput): Uint8Array {
  const phdrs: Uint8Array[] = [];
  for (const paddr of input.crashNotes) {
    phdrs.push(encodeProgramHeader({ type: PT_NOTE, flags: 0, offset: paddr, vaddr: 0n, paddr, filesz: input.crashNotesBytes, memsz: input.crashNotesBytes, align: 0 }));
  }
  const vi = input.vmcoreinfo;
  phdrs.push(encodeProgramHeader({ type: PT_NOTE, flags: 0, offset: vi.paddr, vaddr: 0n, paddr: vi.paddr, filesz: vi.size, memsz: vi.size, align: 0 }));
  const kt = input.kernelText;
  phdrs.push(encodeProgramHeader({ type: PT_LOAD, flags: PF_R | PF_W | PF_X, offset: kt.paddr, vaddr: kt.vaddr, paddr: kt.paddr, filesz: kt.size, memsz: kt.size, align: 0 }));
  for (const r of subtractRanges(input.systemRam, input.crashkernel)) {
    const size = r.end - r.start;
    phdrs.push(encodeProgramHeader({ type: PT_LOAD, flags: PF_R | PF_W | PF_X, offset: r.start, vaddr: directMapVirt(r.start), paddr: r.start, filesz: size, memsz: size, align: 0 }));
  }
  const out = new Uint8Array(EHDR_SIZE + phdrs.length * PHDR_SIZE);
  out.set(encodeElfHeader({ type: ET_CORE, machine: EM_X86_64, flags: 0, phoff: EHDR_SIZE, phnum: phdrs.length }), 0);
  phdrs.forEach((p, i) => out.set(p, EHDR_SIZE + i * PHDR_SIZE));
  return out;
}
