import type { KernelState } from '../context';
import { decodeElfHeader, decodeProgramHeaders, PT_NOTE } from '../formats/elf';
import { subtractRanges, type PhysRange } from '../memory/ranges';
import { pageAlignDown, pageAlignUp } from '../units';

/** What Fedora/RHEL add to the capture kernel's command line (kdump-utils, domain reference §1.4). */
export const CAPTURE_CMDLINE_EXTRA =
  'irqpoll nr_cpus=1 reset_devices cgroup_disable=memory mce=off numa=off udev.children-max=2 panic=10 acpi_no_memhotplug transparent_hugepage=never nokaslr hest_disable cma=0 pcie_ports=compat novmcoredd';

/** `memmap=exactmap memmap=<n>K@<s>K ...` as kexec-tools passes RAM to a capture kernel. */
export function memmapArgs(ram: readonly PhysRange[]): string {
  return ['memmap=exactmap', ...ram.map((r) => `memmap=${(r.end - r.start) / 1024}K@${r.start / 1024}K`)].join(' ');
}

/** The `console=` arguments of a command line: kdump-utils keeps them for the capture kernel. */
export function consoleArgs(cmdline: string): string[] {
  return cmdline.split(/\s+/).filter((a) => a.startsWith('console='));
}

/** The full capture command line: the distribution's extras, the 1st kernel's consoles, the RAM map and `elfcorehdr=<KiB>K`. */
export function captureCmdline(firstCmdline: string, ram: readonly PhysRange[], elfcorehdrPaddr: number): string {
  return [CAPTURE_CMDLINE_EXTRA, ...consoleArgs(firstCmdline), memmapArgs(ram), `elfcorehdr=${elfcorehdrPaddr / 1024}K`].join(' ');
}

/** The RAM kexec gives the capture kernel: the reservation less the elfcorehdr's pages (and a VMCOREINFO copy kept there). */
export function kexecCaptureRam(kernel: Pick<KernelState, 'crashkernel' | 'elfcorehdr' | 'vmcoreinfoCopy'>): PhysRange[] {
  const hdr = kernel.elfcorehdr;
  const copy = kernel.vmcoreinfoCopy;
  const held = [
    ...(hdr ? [{ start: hdr.paddr, end: hdr.paddr + pageAlignUp(hdr.size) }] : []),
    ...(copy ? [{ start: copy.paddr, end: copy.paddr + pageAlignUp(copy.size) }] : []),
  ];
  return subtractRanges(kernel.crashkernel, held);
}

/**
 * The notes the elfcorehdr at [paddr, paddr + size) names inside `reservation` (a VMCOREINFO copy
 * the 1st kernel rescued there): pages the capture kernel must not be given as RAM. Reads the
 * program headers through `read`; a header that does not parse names nothing.
 */
export function notesInReservation(
  read: (paddr: number, dst: Uint8Array) => void,
  hdr: { paddr: number; size: number },
  reservation: readonly PhysRange[],
): PhysRange[] {
  const bytes = new Uint8Array(Math.min(hdr.size, 64 * 1024));
  read(hdr.paddr, bytes);
  try {
    const eh = decodeElfHeader(bytes);
    return decodeProgramHeaders(bytes, eh)
      .filter((p) => p.type === PT_NOTE)
      .map((p) => ({ start: pageAlignDown(p.offset), end: pageAlignUp(p.offset + p.memsz) }))
      .filter((r) => reservation.some((x) => r.start >= x.start && r.end <= x.end));
  } catch {
    return [];
  }
}
