import { PAGE_SIZE, formatSize, hex, intersectRanges, isEfikdumpError, type PhysRange } from '@efikdump/core';
import type { PlacementVerdict, RetentionProfile } from './retention-profile';

/**
 * Where the kernel would reserve `crashkernel=` on a guest of `memoryBytes` with this System
 * RAM: the reserved ranges, the crash kernel region first. Undefined when it reserves nothing.
 * The caller supplies it (kernel-crash's placeCrashkernel) so this package does not depend on
 * the kernel package.
 */
export type PlaceReservation = (memoryBytes: number, systemRam: readonly PhysRange[]) => PhysRange[] | undefined;

export interface PlacementInput {
  /** The `crashkernel=` text the verdicts name, e.g. "crashkernel=0M-1G:96M,1G-4G:192M". */
  crashkernel: string;
  place: PlaceReservation;
  /** System RAM for a size the profile has no measured memory map for (a model), with its name. */
  modelSystemRam?: { source: string; ranges: (memoryBytes: number) => PhysRange[] };
}

/** System RAM for a guest size: the measured firmware memory map when the profile has one, else the model. */
export function systemRamFor(profile: RetentionProfile, memoryBytes: number, input: PlacementInput): { source: string; ranges: PhysRange[] } | undefined {
  const measured = profile.memoryMaps.find((m) => m.memoryBytes === memoryBytes);
  if (measured) return { source: measured.source, ranges: measured.systemRam };
  if (input.modelSystemRam) return { source: input.modelSystemRam.source, ranges: input.modelSystemRam.ranges(memoryBytes) };
  return undefined;
}

/**
 * For every measurement of the profile: where the reservation lands, and whether it and the
 * handoff page (the first page of the crash kernel region, where the stub looks for the record)
 * are free of pages the firmware overwrote across that reset.
 */
export function buildPlacementReport(profile: RetentionProfile, input: PlacementInput): PlacementVerdict[] {
  return profile.measurements.map((m) => {
    const base = { memoryBytes: m.memoryBytes, reset: m.reset, crashkernel: input.crashkernel };
    const ram = systemRamFor(profile, m.memoryBytes, input);
    if (!ram) {
      return { ...base, systemRamSource: 'none', reservationOverwritten: [], reservationSurvives: false, handoffSurvives: false, note: 'no memory map measured and no model given' };
    }
    let reservation: PhysRange[] | undefined;
    try {
      reservation = input.place(m.memoryBytes, ram.ranges);
    } catch (e) {
      if (!isEfikdumpError(e)) throw e;
      return { ...base, systemRamSource: ram.source, reservationOverwritten: [], reservationSurvives: false, handoffSurvives: false, note: `the kernel cannot reserve it: ${e.message}` };
    }
    if (!reservation || reservation.length === 0) {
      return { ...base, systemRamSource: ram.source, reservationOverwritten: [], reservationSurvives: false, handoffSurvives: false, note: `${input.crashkernel} reserves nothing for ${formatSize(m.memoryBytes)}` };
    }
    const handoff = { start: reservation[0].start, end: reservation[0].start + PAGE_SIZE };
    const reservationOverwritten = intersectRanges(reservation, m.overwritten);
    return {
      ...base,
      systemRamSource: ram.source,
      reservation,
      handoff,
      reservationOverwritten,
      reservationSurvives: reservationOverwritten.length === 0,
      handoffSurvives: intersectRanges([handoff], m.overwritten).length === 0,
    };
  });
}

/** One line per verdict, for the CLI. */
export function describePlacement(v: PlacementVerdict): string {
  const label = `${formatSize(v.memoryBytes)} ${v.reset}`;
  if (!v.reservation || !v.handoff) return `${label}: ${v.note ?? 'no reservation'}`;
  const where = v.reservation.map((r) => `[${hex(r.start)}, ${hex(r.end)}) ${formatSize(r.end - r.start)}`).join(' + ');
  const lost = v.reservationOverwritten.reduce((s, r) => s + (r.end - r.start) / PAGE_SIZE, 0);
  const reservation = v.reservationSurvives ? 'reservation survives' : `reservation LOSES ${lost} pages in ${v.reservationOverwritten.length} ranges`;
  const handoff = v.handoffSurvives ? `handoff page ${hex(v.handoff.start)} survives` : `handoff page ${hex(v.handoff.start)} OVERWRITTEN`;
  return `${label}: ${where}: ${reservation}; ${handoff}`;
}

