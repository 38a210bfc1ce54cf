import { encodeNote, encodePrStatus, NT_PRSTATUS, PRSTATUS_SIZE_X86_64, X86_64_REGS, type Rng } from '@efikdump/core';
import { kernelVirt, KERNEL_PHYS, KERNEL_TEXT_BYTES } from './layout';

/**
 * Size of a per-CPU crash_notes buffer (include/linux/vmcore_info.h): a note header and name
 * for NT_PRSTATUS, the elf_prstatus, and an empty terminating header: 2×12 + 8 + 336 = 368.
 */
export const CRASH_NOTE_BYTES = 2 * 12 + 8 + PRSTATUS_SIZE_X86_64;

/** Simulated registers of a CPU stopped by the crash NMI (or the panicking one). */
export function simulatedRegisters(rng: Rng, panicking: boolean): bigint[] {
  const reg = (name: (typeof X86_64_REGS)[number]): bigint => {
    switch (name) {
      // Kernel text's virtual addresses do not move with the image (phys_base): the link address's.
      case 'rip':
        return kernelVirt(KERNEL_PHYS + rng.below(KERNEL_TEXT_BYTES));
      case 'rsp':
      case 'rbp':
        return 0xffffc90000000000n + (BigInt(rng.below(1 << 30)) & ~7n);
      case 'cs':
        return 0x10n;
      case 'ss':
      case 'ds':
      case 'es':
      case 'fs':
      case 'gs':
        return name === 'ss' ? 0x18n : 0n;
      case 'eflags':
        return panicking ? 0x10046n : 0x246n;
      case 'orig_rax':
        return 0xffffffffffffffffn;
      case 'fs_base':
        return 0n;
      case 'gs_base':
        return 0xffff888000000000n + (BigInt(rng.below(1 << 24)) << 12n);
      default:
        return rng.nextU64();
    }
  };
  return X86_64_REGS.map(reg);
}

/** One CPU's crash_notes buffer as crash_save_cpu() leaves it: the note, then a zero header. */
export function encodeCrashNoteBuffer(pid: number, regs: bigint[]): Uint8Array {
  const out = new Uint8Array(CRASH_NOTE_BYTES);
  out.set(encodeNote('CORE', NT_PRSTATUS, encodePrStatus({ pid, regs })), 0);
  return out;
}
