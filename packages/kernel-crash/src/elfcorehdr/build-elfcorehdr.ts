import {
  EHDR_SIZE,
  EM_X86_64,
  encodeElfHeader,
  encodeProgramHeader,
  ET_CORE,
  PF_R,
  PF_W,
  PF_X,
  PHDR_SIZE,
  PT_LOAD,
  PT_NOTE,
  subtractRanges,
  type KernelState,
  type PhysRange,
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
  /**
   * Old memory that was copied elsewhere before the capture kernel booted (fadump's boot memory,
   * domain reference §4): headers for it keep p_paddr and read from the copy (p_offset = the
   * copy's physical address), as the fadump kernel's elfcorehdr does.
   */
  copies?: { from: PhysRange; to: number }[];
}

/** Where the bytes of old-memory address `paddr` are read from. */
function sourceOf(input: ElfCoreHeaderInput, paddr: number): number {
  const c = input.copies?.find((x) => paddr >= x.from.start && paddr < x.from.end);
  return c ? c.to + (paddr - c.from.start) : paddr;
}

/** `ranges` split at the edges of the copied ranges, so each piece is read from one place. */
function splitAtCopies(input: ElfCoreHeaderInput, ranges: PhysRange[]): PhysRange[] {
  const cuts = (input.copies ?? []).flatMap((c) => [c.from.start, c.from.end]);
  return ranges.flatMap((r) => {
    const points = [r.start, ...cuts.filter((x) => x > r.start && x < r.end).sort((a, b) => a - b), r.end];
    return points.slice(1).map((end, i) => ({ start: points[i], end }));
  });
}

/**
 * The elfcorehdr as kexec-tools builds it before the crash (kexec/crashdump-elf.c): an ET_CORE
 * header, one PT_NOTE per CPU and one for VMCOREINFO (p_offset = p_paddr = physical address),
 * the kernel-text PT_LOAD, and one PT_LOAD per System RAM range with the reservation left out.
 */
export function buildElfCoreHeader(input: ElfCoreHeaderInput): Uint8Array {
  const phdrs: Uint8Array[] = [];
  for (const paddr of input.crashNotes) {
    phdrs.push(
      encodeProgramHeader({
        type: PT_NOTE,
        flags: 0,
        offset: sourceOf(input, paddr),
        vaddr: 0n,
        paddr,
        filesz: input.crashNotesBytes,
        memsz: input.crashNotesBytes,
        align: 0,
      }),
    );
  }
  const vi = input.vmcoreinfo;
  phdrs.push(
    encodeProgramHeader({
      type: PT_NOTE,
      flags: 0,
      offset: sourceOf(input, vi.paddr),
      vaddr: 0n,
      paddr: vi.paddr,
      filesz: vi.size,
      memsz: vi.size,
      align: 0,
    }),
  );
  const kt = input.kernelText;
  for (const r of splitAtCopies(input, [{ start: kt.paddr, end: kt.paddr + kt.size }])) {
    const size = r.end - r.start;
    phdrs.push(
      encodeProgramHeader({
        type: PT_LOAD,
        flags: PF_R | PF_W | PF_X,
        offset: sourceOf(input, r.start),
        vaddr: kt.vaddr + BigInt(r.start - kt.paddr),
        paddr: r.start,
        filesz: size,
        memsz: size,
        align: 0,
      }),
    );
  }
  for (const r of splitAtCopies(input, subtractRanges(input.systemRam, input.crashkernel))) {
    const size = r.end - r.start;
    phdrs.push(
      encodeProgramHeader({
        type: PT_LOAD,
        flags: PF_R | PF_W | PF_X,
        offset: sourceOf(input, r.start),
        vaddr: directMapVirt(r.start),
        paddr: r.start,
        filesz: size,
        memsz: size,
        align: 0,
      }),
    );
  }
  const out = new Uint8Array(EHDR_SIZE + phdrs.length * PHDR_SIZE);
  out.set(encodeElfHeader({ type: ET_CORE, machine: EM_X86_64, flags: 0, phoff: EHDR_SIZE, phnum: phdrs.length }), 0);
  phdrs.forEach((p, i) => out.set(p, EHDR_SIZE + i * PHDR_SIZE));
  return out;
}

/** The elfcorehdr input of a booted kernel: its notes, VMCOREINFO, text, RAM and reservation (and any copies of old memory). */
export function elfCoreHeaderInputOf(kernel: KernelState, copies?: ElfCoreHeaderInput['copies']): ElfCoreHeaderInput {
  return {
    crashNotes: kernel.crashNotes,
    crashNotesBytes: kernel.crashNotesBytes,
    vmcoreinfo: kernel.vmcoreinfo,
    kernelText: kernel.kernelText,
    systemRam: kernel.systemRam,
    crashkernel: kernel.crashkernel,
    ...(copies ? { copies } : {}),
  };
}
