import type { PhysRange, RunContext } from '@efikdump/core';
import { parseCrashkernel, placeCrashkernel, type CrashkernelPlacement, type CrashkernelSpec } from './crashkernel';

/** The file the run's `crashkernel=` value came from: the scenario that replaced it, else the design. */
export function crashkernelSource(ctx: Pick<RunContext, 'design' | 'scenario'>): string {
  return ctx.scenario.kernel?.crashkernel ? ctx.scenario.source : ctx.design.source;
}

/**
 * `crashkernel=` of the run's kernel command line, and where the kernel places it in `systemRam`:
 * no `spec` when the command line has none, no `placement` when it reserves nothing on this
 * machine. A malformed value is a ConfigError naming the file it came from.
 */
export function runCrashkernel(ctx: Pick<RunContext, 'design' | 'scenario' | 'machine'>, systemRam: readonly PhysRange[]): { spec?: CrashkernelSpec; placement?: CrashkernelPlacement } {
  const file = crashkernelSource(ctx);
  const spec = parseCrashkernel(ctx.design.kernel.cmdline, file);
  if (!spec) return {};
  const placement = placeCrashkernel(spec, systemRam, ctx.machine.ramBytes, file);
  return placement ? { spec, placement } : { spec };
}
