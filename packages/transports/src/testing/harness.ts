// Test support only (not published): a transport's scenes over core's public test kit (createTestRun
// builds the run's container and context as createRun does), up to the reset, with the boot secret
// the EFI stub would have issued set by hand.
import type { DependencyContainer } from 'tsyringe';
import {
  EXIT,
  FIRMWARE,
  FIRMWARE_SERVICES,
  KERNEL,
  parseDesign,
  parseScenario,
  Rng,
  TRANSPORT,
  type Design,
  type ExitStrategy,
  type Firmware,
  type FirmwareServices,
  type FirstKernel,
  type HandoffTransport,
  type RunContext,
  type SlotKey,
  type StageOperator,
} from '@efikdump/core';
import { createTestRun, pluginContainer, runStages as runKitStages } from '@efikdump/core/testing';
import { register as registerFirmware } from '@efikdump/firmware-uefi';
import { register as registerKernel } from '@efikdump/kernel-crash';
import { register } from '../index';

export const CMDLINE = 'ro console=ttyS0 nokaslr crashkernel=0M-1G:128M,1G-4G:192M,4G-64G:256M,64G-:512M';

export function designFor(transport: string, opts: { profile?: string; cmdline?: string; retention?: string[] } = {}): Design {
  return parseDesign(
    {
      format: 'efikdump-design/1',
      name: `test-${transport}`,
      description: `the ${transport} transport under test`,
      components: {
        firmware: 'uefi',
        retention: opts.retention ?? ['retain-all'],
        kernel: 'linux',
        transport,
        exit: 'efi-warm-reset',
        detector: 'reserved-memory-magic',
        stub: 'linux-efi-stub',
        capture: 'linux-vmcore',
        writer: 'elf',
      },
      firmware: { profile: opts.profile ?? 'ovmf' },
      kernel: { cmdline: opts.cmdline ?? CMDLINE },
    },
    `test-${transport}.json`,
  );
}

let root: DependencyContainer | undefined;
export function rootContainer(): DependencyContainer {
  return (root ??= pluginContainer(registerFirmware, registerKernel, register));
}

export interface Sim {
  ctx: RunContext;
  run: DependencyContainer;
  firmware: Firmware;
  services: FirmwareServices;
  kernel: FirstKernel;
  transport: HandoffTransport;
  exit: ExitStrategy;
}

const USED: SlotKey[] = ['firmware', 'retention', 'kernel', 'transport', 'exit'];

export function machine(
  design: Design,
  seed: number,
  ramBytes: number,
  opts: { cpus?: number; firmware?: Record<string, unknown> } = {},
): Sim {
  const scenario = parseScenario(
    {
      format: 'efikdump-scenario/1',
      name: 'transport-test',
      description: 'a small machine for a transport',
      machine: { memory: ramBytes, cpus: opts.cpus ?? 2 },
      workload: { pageWrites: 8 },
      // Unit tests of a transport run on firmware that keeps RAM (no scratch ranges) unless they name some: POST's measured writes are tested end to end (apps/cli measured-firmware.test.ts).
      firmware: { scratch: [], ...(opts.firmware ?? {}) },
    },
    'transport-test',
  );
  const t = createTestRun({
    container: rootContainer(),
    design,
    scenario,
    seed,
    memory: ramBytes,
    slots: USED,
    options: { truthPages: 16, truthZeroPages: 4 },
  });
  return {
    ctx: t.ctx,
    run: t.run,
    firmware: t.resolve(FIRMWARE),
    services: t.resolve(FIRMWARE_SERVICES),
    kernel: t.resolve(KERNEL),
    transport: t.resolve(TRANSPORT),
    exit: t.resolve(EXIT),
  };
}

export const runStages = (ctx: RunContext, ...ops: StageOperator[]): Promise<RunContext> => runKitStages(ctx, ...ops);

/** What the EFI stub would have handed the kernel of this boot (deterministic per seed and boot). */
export function issueSecret(ctx: RunContext): { key: Uint8Array; nonce: string } {
  const rng = new Rng(ctx.seed, 0x5ec7, ctx.state.bootCount);
  const key = new Uint8Array(32);
  rng.fill(key);
  const nonce = (rng.nextU64() | 1n).toString(16).padStart(16, '0');
  ctx.state.bootSecret = { keyHex: Buffer.from(key).toString('hex'), nonce };
  return { key, nonce };
}

/** Power-on, the secret, the 1st kernel's boot, kdump armed, the workload. */
export async function bootAndArm(sim: Sim): Promise<{ key: Uint8Array; nonce: string }> {
  await runStages(sim.ctx, sim.firmware.powerOn());
  const secret = issueSecret(sim.ctx);
  await runStages(sim.ctx, sim.kernel.boot(), sim.transport.prepare(), sim.kernel.workload());
  return secret;
}

/** ... then the panic, the transport's persist, the exit (warm reset) and POST: the stub would run now. */
export async function crashAndReset(sim: Sim): Promise<{ key: Uint8Array; nonce: string }> {
  const secret = await bootAndArm(sim);
  await runStages(sim.ctx, sim.kernel.panic(), sim.transport.persist(), sim.exit.leave(), sim.firmware.resetAndPost());
  return secret;
}

/** A warm reset nobody asked the panic path for (reboot, watchdog), then POST. */
export async function cleanWarmReset(sim: Sim): Promise<void> {
  sim.firmware.resetSystem(sim.ctx, 'warm');
  await runStages(sim.ctx, sim.firmware.resetAndPost());
}

export const warnings = (ctx: RunContext, stage: string) =>
  ctx.log.timeline.filter((e) => e.stage === stage && e.kind === 'warn').map((e) => e.message);
