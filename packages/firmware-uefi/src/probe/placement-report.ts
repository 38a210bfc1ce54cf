import { PAGE_SIZE, formatSize, hex, intersectRanges, isEfikdumpError, subtractRanges, type PhysRange } from '@efikdump/core';
import type { PlacementVerdict, RetentionMeasurement, RetentionProfile } from './retention-profile';

/**
 * Where the kernel would reserve `crashkernel=` on a guest of `memoryBytes`, searching `freeRam`:
 * the reserved ranges, the crash kernel region first; undefined when it reserves nothing. The
 * caller supplies it (kernel-crash's placeCrashkernel) so this package does not depend on the
 * kernel package.
 */
export type PlaceReservation = (memoryBytes: number, freeRam: readonly PhysRange[]) => PhysRange[] | undefined;

export interface PlacementInput {
  /** The `crashkernel=` text the verdicts name, e.g. "crashkernel=0M-1G:96M,1G-4G:192M". */
  crashkernel: string;
  place: PlaceReservation;
  /** System RAM for a size the profile has no measured memory map for (a model), with its name. */
  modelSystemRam?: { source: string; ranges: (memoryBytes: number) => PhysRange[] };
}

/**
 * The free memory a placement searches:
 * - `system-ram`: all System RAM of the memory map (what efikdump's kernel model searches);
 * - `without-boot-services`: System RAM less the EFI boot-services regions, which Linux x86
 *   keeps reserved (efi_reserve_boot_services) until after reserve_crashkernel in setup_arch —
 *   closer to a real kernel; only with a measured memory map. Neither variant models the
 *   kernel image, initrd or other early reservations.
 */
export const PLACEMENT_VARIANTS = ['system-ram', 'without-boot-services'] as const;

interface FreeRam {
  variant: (typeof PLACEMENT_VARIANTS)[number];
  source: string;
  ranges: PhysRange[];
}

/** The free-memory variants for a guest size: both from a measured memory map, else the model's System RAM. */
export function freeRamFor(profile: RetentionProfile, memoryBytes: number, input: PlacementInput): FreeRam[] {
  const measured = profile.memoryMaps.find((m) => m.memoryBytes === memoryBytes);
  if (measured) {
    return [
      { variant: 'system-ram', source: measured.source, ranges: measured.systemRam },
      { variant: 'without-boot-services', source: measured.source, ranges: subtractRanges(measured.systemRam, measured.bootServices) },
    ];
  }
  if (input.modelSystemRam)
    return [{ variant: 'system-ram', source: input.modelSystemRam.source, ranges: input.modelSystemRam.ranges(memoryBytes) }];
  return [];
}

function verdict(m: RetentionMeasurement, free: FreeRam, input: PlacementInput): PlacementVerdict {
  const base = {
    memoryBytes: m.memoryBytes,
    reset: m.reset,
    crashkernel: input.crashkernel,
    variant: free.variant,
    systemRamSource: free.source,
  };
  const nothing = { reservationOverwritten: [], reservationSurvives: false, handoffSurvives: false };
  let reservation: PhysRange[] | undefined;
  try {
    reservation = input.place(m.memoryBytes, free.ranges);
  } catch (e) {
    if (!isEfikdumpError(e)) throw e;
    return { ...base, ...nothing, note: `the kernel cannot reserve it: ${e.message}` };
  }
  if (!reservation || reservation.length === 0)
    return { ...base, ...nothing, note: `${input.crashkernel} reserves nothing for ${formatSize(m.memoryBytes)}` };
  const handoff = { start: reservation[0].start, end: reservation[0].start + PAGE_SIZE };
  const reservationOverwritten = intersectRanges(reservation, m.overwritten);
  return {
    ...base,
    reservation,
    handoff,
    reservationOverwritten,
    reservationSurvives: reservationOverwritten.length === 0,
    handoffSurvives: intersectRanges([handoff], m.overwritten).length === 0,
  };
}

/**
 * For every measurement of the profile and every free-memory variant: where the reservation
 * lands, and whether it and the handoff page (the first page of the crash kernel region, where
 * the stub looks for the record) are free of pages the firmware overwrote across that reset.
 */
export function buildPlacementReport(profile: RetentionProfile, input: PlacementInput): PlacementVerdict[] {
  return profile.measurements.flatMap((m) => {
    const variants = freeRamFor(profile, m.memoryBytes, input);
    if (variants.length === 0) {
      return [
        {
          memoryBytes: m.memoryBytes,
          reset: m.reset,
          crashkernel: input.crashkernel,
          variant: 'none',
          systemRamSource: 'none',
          reservationOverwritten: [],
          reservationSurvives: false,
          handoffSurvives: false,
          note: 'no memory map measured and no model given',
        },
      ];
    }
    return variants.map((free) => verdict(m, free, input));
  });
}

/** One line per verdict, for the CLI. */
export function describePlacement(v: PlacementVerdict): string {
  const label = `${formatSize(v.memoryBytes)} ${v.reset} (${v.variant})`;
  if (!v.reservation || !v.handoff) return `${label}: ${v.note ?? 'no reservation'}`;
  const where = v.reservation.map((r) => `[${hex(r.start)}, ${hex(r.end)}) ${formatSize(r.end - r.start)}`).join(' + ');
  const lost = v.reservationOverwritten.reduce((s, r) => s + (r.end - r.start) / PAGE_SIZE, 0);
  const reservation = v.reservationSurvives
    ? 'reservation survives'
    : `reservation LOSES ${lost} pages in ${v.reservationOverwritten.length} range${v.reservationOverwritten.length === 1 ? '' : 's'}`;
  const handoff = v.handoffSurvives ? `handoff page ${hex(v.handoff.start)} survives` : `handoff page ${hex(v.handoff.start)} OVERWRITTEN`;
  return `${label}: ${where}: ${reservation}; ${handoff}`;
}
