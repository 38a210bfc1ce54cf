import {
  mergeRanges,
  SimulationError,
  totalSize,
  PAGE_SIZE,
  type FirmwareState,
  type PhysRange,
  type RetentionReport,
  type RunContext,
} from '@efikdump/core';
import type { GeneratedKind } from '@efikdump/core';

/** The firmware-uefi state a retention policy reads (profile, variable store); set at power-on. */
export function firmwareOf(ctx: RunContext, policy: string): FirmwareState {
  const fw = ctx.state.firmware;
  if (!fw) throw new SimulationError(`retention policy ${policy} needs the uefi firmware's state (profile, variables)`);
  return fw;
}

/** Overwrites whole ranges without materialising them (PhysicalMemory.fill), and reports them. */
export function overwrite(
  ctx: RunContext,
  policy: string,
  ranges: readonly PhysRange[],
  kind: GeneratedKind,
  label: string,
  note?: string,
): RetentionReport {
  const merged = mergeRanges(
    ranges.map((r) => ({ start: Math.floor(r.start / PAGE_SIZE) * PAGE_SIZE, end: Math.ceil(r.end / PAGE_SIZE) * PAGE_SIZE })),
  );
  const salt = 0x5c0000 + ctx.state.bootCount;
  for (const r of merged) ctx.machine.memory.fill(r, kind, salt, label);
  const report: RetentionReport = { policy, changedRanges: merged, changedPages: totalSize(merged) / PAGE_SIZE };
  return note ? { ...report, note } : report;
}

export const unchanged = (policy: string): RetentionReport => ({ policy, changedRanges: [], changedPages: 0 });
