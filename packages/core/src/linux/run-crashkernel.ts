import { kdumpOptionsOf, type ImagePlacementChoice } from '../config/design';
import type { MemoryDescriptor, RunContext } from '../context';
import { SimulationError } from '../errors';
import { subtractRanges, type PhysRange } from '../memory/ranges';
import { hashString, Rng } from '../rng';
import { hex } from '../units';
import { KERNEL_IMAGE_BYTES, KERNEL_PHYS } from './kernel-image';
import { parseCrashkernel, placeCrashkernel, type CrashkernelPlacement, type CrashkernelSpec } from './crashkernel';
import {
  conventionalMemory,
  earlyReservations,
  imageSlots,
  kaslrImageRange,
  memblockReservedAtCrashkernel,
  type EarlyReservations,
} from './memblock';

/** The file the run's `crashkernel=` value came from: the scenario that replaced it, else the design. */
export function crashkernelSource(ctx: Pick<RunContext, 'design' | 'scenario'>): string {
  return ctx.scenario.kernel?.crashkernel ? ctx.scenario.source : ctx.design.source;
}

/** Whether the run's kernel boots with physical KASLR (no `nokaslr` on its command line). */
export function kaslrEnabled(cmdline: string): boolean {
  return !/(^|\s)nokaslr(\s|$)/.test(cmdline);
}

type RunInputs = Pick<RunContext, 'design' | 'scenario' | 'machine'> & {
  seed?: number;
  state?: Pick<RunContext['state'], 'memoryMap' | 'firmware'>;
};

/** Where the 1st kernel's image is on this boot, and the range memblock holds for it at reserve_crashkernel() time. */
export interface ImagePlacement {
  choice: ImagePlacementChoice;
  /** The simulated image: _text's physical address is `image.start` (phys_base = image.start − 16 MiB). */
  image: PhysRange;
  /** What memblock reserves for the image when crashkernel= is placed (the same range unless `fixed-16m` runs with KASLR on). */
  memblockImage: PhysRange;
  /** Ranges the reservation is kept off besides the early reservations (the simulated image, when memblock saw another). */
  avoid: PhysRange[];
}

/** The design's image placement (`kernel.imagePlacement`; `fixed-16m` when it says nothing). */
export function imagePlacementOf(design: Pick<RunContext['design'], 'kernel'>): ImagePlacementChoice {
  return design.kernel.imagePlacement ?? 'fixed-16m';
}

/**
 * Where the EFI stub puts the 1st kernel's image (design `kernel.imagePlacement`):
 * - `fixed-16m` (the default): at 16 MiB, phys_base 0, whatever the command line says. With KASLR
 *   on, memblock's view of the image is a seeded KASLR slot (for crashkernel= placement only) and
 *   the reservation is also kept off 16 MiB: the simulator's behaviour before images could move.
 * - `kaslr` [modelled]: at the seeded KASLR slot (kaslrImageRange), phys_base = slot − 16 MiB.
 * - `avoid-footprint` [design choice, not upstream]: the stub allocates the image outside the
 *   firmware profile's predicted POST ranges (the measured envelope), in conventional memory, on a
 *   2 MiB boundary from 16 MiB up: the lowest such slot with `nokaslr`, a seeded one with KASLR.
 *   Upstream's x86 stub relocates to LOAD_PHYSICAL_ADDR (or the lowest free slot above it) or
 *   uses efi_random_alloc; neither knows where POST writes.
 * Without a memory map the image stays at 16 MiB.
 */
export function runImagePlacement(ctx: RunInputs): ImagePlacement {
  const choice = imagePlacementOf(ctx.design);
  const map: readonly MemoryDescriptor[] | undefined = ctx.state?.memoryMap;
  const fixed = { start: KERNEL_PHYS, end: KERNEL_PHYS + KERNEL_IMAGE_BYTES };
  const kaslr = kaslrEnabled(ctx.design.kernel.cmdline);
  const rng = () => new Rng(ctx.seed ?? 0, hashString('kaslr'));
  if (!map) return { choice, image: fixed, memblockImage: fixed, avoid: [] };
  if (choice === 'fixed-16m') {
    if (!kaslr) return { choice, image: fixed, memblockImage: fixed, avoid: [] };
    return { choice, image: fixed, memblockImage: kaslrImageRange(map, KERNEL_IMAGE_BYTES, rng()), avoid: [fixed] };
  }
  if (choice === 'kaslr') {
    const image = kaslrImageRange(map, KERNEL_IMAGE_BYTES, rng());
    return { choice, image, memblockImage: image, avoid: [] };
  }
  const envelope = ctx.state?.firmware?.postPrediction ?? [];
  const slots = imageSlots(subtractRanges(conventionalMemory(map), envelope), KERNEL_IMAGE_BYTES);
  if (!slots.length)
    throw new SimulationError(
      `no room for the ${KERNEL_IMAGE_BYTES / 2 ** 20} MiB kernel image outside the firmware's predicted POST ranges (${envelope.map((r) => `${hex(r.start)}-${hex(r.end)}`).join(', ')})`,
    );
  const start = kaslr ? slots[rng().below(slots.length)] : slots[0];
  const image = { start, end: start + KERNEL_IMAGE_BYTES };
  return { choice, image, memblockImage: image, avoid: [] };
}

/**
 * What memblock holds when reserve_crashkernel() runs on this boot: the firmware's regions of the
 * memory map, the low 1 MiB, the kernel image where runImagePlacement put it (with `fixed-16m` and
 * KASLR on, the KASLR slot, and the reservation kept off 16 MiB too), the initrd, and with
 * `kdump.reservation: avoid-measured` what the firmware profile predicts POST writes. Empty
 * without a memory map.
 */
export function runEarlyReservations(ctx: RunInputs): EarlyReservations | undefined {
  const map: readonly MemoryDescriptor[] | undefined = ctx.state?.memoryMap;
  // fadump reserves by its own rule (above boot memory, from the top), not x86's reserve_crashkernel.
  if (!map || /(^|\s)fadump=on(\s|$)/.test(ctx.design.kernel.cmdline)) return undefined;
  const placed = runImagePlacement(ctx);
  const avoid: PhysRange[] =
    kdumpOptionsOf(ctx.design).reservation === 'avoid-measured' ? [...(ctx.state?.firmware?.postPrediction ?? [])] : [];
  avoid.push(...placed.avoid);
  return earlyReservations(map, placed.memblockImage, avoid);
}

/**
 * `crashkernel=` of the run's kernel command line, and where the kernel places it in `systemRam`
 * around the early reservations (runEarlyReservations): no `spec` when the command line has none,
 * no `placement` when it reserves nothing on this machine. A malformed value is a ConfigError
 * naming the file it came from.
 */
export function runCrashkernel(
  ctx: RunInputs,
  systemRam: readonly PhysRange[],
): { spec?: CrashkernelSpec; placement?: CrashkernelPlacement; early?: EarlyReservations } {
  const file = crashkernelSource(ctx);
  const spec = parseCrashkernel(ctx.design.kernel.cmdline, file);
  if (!spec) return {};
  const early = runEarlyReservations(ctx);
  const placement = placeCrashkernel(spec, systemRam, ctx.machine.ramBytes, file, early ? memblockReservedAtCrashkernel(early) : []);
  return placement ? { spec, placement, ...(early ? { early } : {}) } : { spec, ...(early ? { early } : {}) };
}
