import { hashString, kdumpOptionsOf, Rng, type MemoryDescriptor, type PhysRange, type RunContext } from '@efikdump/core';
import { KERNEL_IMAGE_BYTES, KERNEL_PHYS } from '../kernel/layout';
import { parseCrashkernel, placeCrashkernel, type CrashkernelPlacement, type CrashkernelSpec } from './crashkernel';
import { earlyReservations, kaslrImageRange, memblockReservedAtCrashkernel, type EarlyReservations } from './memblock';

/** The file the run's `crashkernel=` value came from: the scenario that replaced it, else the design. */
export function crashkernelSource(ctx: Pick<RunContext, 'design' | 'scenario'>): string {
  return ctx.scenario.kernel?.crashkernel ? ctx.scenario.source : ctx.design.source;
}

/** Whether the run's kernel boots with physical KASLR (no `nokaslr` on its command line). */
export function kaslrEnabled(cmdline: string): boolean {
  return !/(^|\s)nokaslr(\s|$)/.test(cmdline);
}

type RunInputs = Pick<RunContext, 'design' | 'scenario' | 'machine'> & { seed?: number; state?: Pick<RunContext['state'], 'memoryMap' | 'firmware'> };

/**
 * What memblock holds when reserve_crashkernel() runs on this boot: the firmware's regions of the
 * memory map, the low 1 MiB, the kernel image (at 16 MiB with `nokaslr`; with KASLR a seeded slot,
 * the same on every boot of the run, used for placement only — the simulated image stays at 16 MiB),
 * the initrd, and with `kdump.reservation: avoid-measured` what the firmware profile predicts POST
 * writes. Empty without a memory map.
 */
export function runEarlyReservations(ctx: RunInputs): EarlyReservations | undefined {
  const map: readonly MemoryDescriptor[] | undefined = ctx.state?.memoryMap;
  // fadump reserves by its own rule (above boot memory, from the top), not x86's reserve_crashkernel.
  if (!map || /(^|\s)fadump=on(\s|$)/.test(ctx.design.kernel.cmdline)) return undefined;
  const image = kaslrEnabled(ctx.design.kernel.cmdline)
    ? kaslrImageRange(map, KERNEL_IMAGE_BYTES, new Rng(ctx.seed ?? 0, hashString('kaslr')))
    : { start: KERNEL_PHYS, end: KERNEL_PHYS + KERNEL_IMAGE_BYTES };
  const avoid: PhysRange[] = kdumpOptionsOf(ctx.design).reservation === 'avoid-measured' ? [...(ctx.state?.firmware?.postPrediction ?? [])] : [];
  // The simulated image itself stays at 16 MiB whatever KASLR chose: keep the reservation off it too.
  if (kaslrEnabled(ctx.design.kernel.cmdline)) avoid.push({ start: KERNEL_PHYS, end: KERNEL_PHYS + KERNEL_IMAGE_BYTES });
  return earlyReservations(map, image, avoid);
}

/**
 * `crashkernel=` of the run's kernel command line, and where the kernel places it in `systemRam`
 * around the early reservations (runEarlyReservations): no `spec` when the command line has none,
 * no `placement` when it reserves nothing on this machine. A malformed value is a ConfigError
 * naming the file it came from.
 */
export function runCrashkernel(ctx: RunInputs, systemRam: readonly PhysRange[]): { spec?: CrashkernelSpec; placement?: CrashkernelPlacement; early?: EarlyReservations } {
  const file = crashkernelSource(ctx);
  const spec = parseCrashkernel(ctx.design.kernel.cmdline, file);
  if (!spec) return {};
  const early = runEarlyReservations(ctx);
  const placement = placeCrashkernel(spec, systemRam, ctx.machine.ramBytes, file, early ? memblockReservedAtCrashkernel(early) : []);
  return placement ? { spec, placement, ...(early ? { early } : {}) } : { spec, ...(early ? { early } : {}) };
}
