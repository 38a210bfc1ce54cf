import type { RunContext } from '../context';
import { EfikdumpError } from '../errors';
import { systemRamFromMemoryMap } from '../memory/efi-memory-map';
import { PAGE_SIZE } from '../units';
import { runCrashkernel } from './run-crashkernel';

/**
 * Where the handoff slot is for a reservation: the first page of its first range. The 1st kernel
 * keeps it in `ctx.state.kernel.handoffSlot`; the stub of the next boot finds the same page with
 * locateHandoffSlot.
 */
export function handoffSlotOf(crashkernel: readonly { start: number }[]): number {
  return crashkernel[0].start;
}

/**
 * The handoff page as the stub finds it: the first page of the reservation `crashkernel=` on the
 * same command line places in this boot's memory map (a warm reset does not change either). The
 * 1st kernel uses `ctx.state.kernel.handoffSlot`, the same page.
 */
export function locateHandoffSlot(ctx: RunContext): { slot: number } | { reason: string } {
  const map = ctx.state.memoryMap;
  if (!map) return { reason: 'no memory map' };
  try {
    const { placement } = runCrashkernel(ctx, systemRamFromMemoryMap(map));
    if (!placement) return { reason: 'the command line reserves no crashkernel region' };
    return { slot: handoffSlotOf(placement.ranges) };
  } catch (e) {
    if (e instanceof EfikdumpError) return { reason: e.describe() };
    throw e;
  }
}

/** The handoff page's bytes as memory holds them now, with its address. */
export function readHandoffSlot(ctx: RunContext): { slot: number; page: Uint8Array } | { reason: string } {
  const where = locateHandoffSlot(ctx);
  if (!('slot' in where)) return where;
  const page = new Uint8Array(PAGE_SIZE);
  ctx.machine.memory.read(where.slot, page);
  return { slot: where.slot, page };
}

/** Consume-once: zero the handoff page so the next boot finds nothing there. */
export function clearHandoffSlot(ctx: RunContext): void {
  const where = locateHandoffSlot(ctx);
  if ('slot' in where) ctx.machine.memory.write(where.slot, new Uint8Array(PAGE_SIZE));
}
