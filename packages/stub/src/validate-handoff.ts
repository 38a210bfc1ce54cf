import { createHash } from 'node:crypto';
import { containsRange, hex, inRanges, type HandoffInfo, type HandoffRejection, type PhysRange, type PhysicalMemory } from '@efikdump/core';

/** Largest elfcorehdr the stub accepts: 64 + 56 × (1024 CPUs + VMCOREINFO + 1000 RAM ranges), rounded up. */
export const MAX_ELFCOREHDR_BYTES = 128 * 1024;

/**
 * Checks a handoff before anything is booted from it: every range inside RAM, the reservation the
 * one `crashkernel=` places, the elfcorehdr inside it and matching the digest taken when it was
 * built. Returns why it is not valid, with the rejection category, or undefined.
 */
export function checkHandoff(
  info: HandoffInfo,
  systemRam: readonly PhysRange[],
  memory: PhysicalMemory,
  expectedReservation?: readonly PhysRange[],
): { category: HandoffRejection; reason: string } | undefined {
  const wrong = (reason: string) => ({ category: 'wrong-reservation' as const, reason });
  const corrupt = (reason: string) => ({ category: 'corrupt' as const, reason });
  for (const r of info.crashkernel) {
    if (r.start % 4096 || r.end % 4096) return wrong(`crashkernel range ${hex(r.start)}-${hex(r.end)} is not page aligned`);
    if (!systemRam.some((ram) => containsRange(ram, r)))
      return wrong(`crashkernel range ${hex(r.start)}-${hex(r.end)} is not inside System RAM`);
  }
  if (expectedReservation) {
    const same =
      expectedReservation.length === info.crashkernel.length &&
      expectedReservation.every((r, i) => r.start === info.crashkernel[i].start && r.end === info.crashkernel[i].end);
    if (!same) return wrong('the record names a reservation other than the one crashkernel= places');
  }
  const { paddr, size, sha256 } = info.elfcorehdr;
  if (paddr % 4096) return corrupt(`elfcorehdr ${hex(paddr)} is not page aligned`);
  if (size < 64 || size > MAX_ELFCOREHDR_BYTES) return corrupt(`elfcorehdr size ${size} is outside 64..${MAX_ELFCOREHDR_BYTES}`);
  if (!inRanges(info.crashkernel, paddr, size)) return wrong(`elfcorehdr ${hex(paddr)}+${size} is outside the reservation`);
  const bytes = new Uint8Array(size);
  memory.read(paddr, bytes);
  if (createHash('sha256').update(bytes).digest('hex') !== sha256) return corrupt(`elfcorehdr at ${hex(paddr)} does not match its SHA-256`);
  if (info.cpus < 1 || info.cpus > 8192) return corrupt(`CPU count ${info.cpus} is implausible`);
  return undefined;
}

/** `checkHandoff`'s reason alone: why the handoff is not valid, or undefined. */
export function validateHandoff(
  info: HandoffInfo,
  systemRam: readonly PhysRange[],
  memory: PhysicalMemory,
  expectedReservation?: readonly PhysRange[],
): string | undefined {
  return checkHandoff(info, systemRam, memory, expectedReservation)?.reason;
}
