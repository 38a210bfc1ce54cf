// Test support only (not published): the stub's scenes over core's public test kit (createTestRun
// builds the run's container and context as createRun does), with the stub running on every boot
// and the judge after it, as in the runner's pipeline.
import path from 'node:path';
import type { DependencyContainer } from 'tsyringe';
import {
  DETECTOR,
  EXIT,
  FIRMWARE,
  FIRMWARE_SERVICES,
  judgeBoot,
  KERNEL,
  parseDesign,
  parseScenario,
  readJsonFile,
  STUB,
  TRANSPORT,
  type CrashDetector,
  type Design,
  type EfiStub,
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
import { register as registerTransports } from '@efikdump/transports';
import { register as registerVmcore } from '@efikdump/vmcore';
import { register } from '../index';

export const CMDLINE = 'ro nokaslr crashkernel=0M-1G:128M,1G-4G:192M,4G-64G:256M,64G-:512M';
export const DESIGN_FILE = path.resolve(__dirname, '../../../../apps/cli/designs/efi-warm-reserved-memory.json');

/** The built-in reserved-memory design with other components, command line or profile. */
export function designWith(opts: { cmdline?: string; transport?: string; detector?: string; profile?: string } = {}): Design {
  const doc = readJsonFile(DESIGN_FILE) as { components: Record<string, unknown> } & Record<string, unknown>;
  return parseDesign(
    {
      ...doc,
      components: {
        ...doc.components,
        ...(opts.transport ? { transport: opts.transport } : {}),
        ...(opts.detector ? { detector: opts.detector } : {}),
      },
      kernel: { cmdline: opts.cmdline ?? CMDLINE },
      firmware: { profile: opts.profile ?? 'ovmf' },
    },
    DESIGN_FILE,
  );
}

let root: DependencyContainer | undefined;
export function rootContainer(): DependencyContainer {
  return (root ??= pluginContainer(registerFirmware, registerKernel, registerTransports, registerVmcore, register));
}

export interface Sim {
  ctx: RunContext;
  run: DependencyContainer;
  firmware: Firmware;
  services: FirmwareServices;
  kernel: FirstKernel;
  transport: HandoffTransport;
  exit: ExitStrategy;
  detector: CrashDetector;
  stub: EfiStub;
}

const UP_TO_STUB: SlotKey[] = ['firmware', 'retention', 'kernel', 'transport', 'exit', 'detector', 'stub'];

export function machine(
  seed: number,
  ramBytes: number,
  opts: { cpus?: number; design?: Design; firmware?: Record<string, unknown> } = {},
): Sim {
  const scenario = parseScenario(
    {
      format: 'efikdump-scenario/1',
      name: 'stub-test',
      description: 'a small machine for the EFI stub',
      machine: { memory: ramBytes, cpus: opts.cpus ?? 2 },
      workload: { pageWrites: 8 },
      // Unit tests of the EFI stub run on firmware that keeps RAM (no scratch ranges) unless they name some: POST's measured writes are tested end to end (apps/cli measured-firmware.test.ts).
      firmware: { scratch: [], ...(opts.firmware ?? {}) },
    },
    'stub-test',
  );
  const t = createTestRun({
    container: rootContainer(),
    design: opts.design ?? designWith(),
    scenario,
    seed,
    memory: ramBytes,
    slots: UP_TO_STUB,
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
    detector: t.resolve(DETECTOR),
    stub: t.resolve(STUB),
  };
}

export const runStages = (ctx: RunContext, ...ops: StageOperator[]): Promise<RunContext> => runKitStages(ctx, ...ops);

/** Power-on, the stub of boot #1 (it issues the boot secret), the 1st kernel, kdump armed, the workload. */
export async function bootAndArm(sim: Sim): Promise<void> {
  await runStages(
    sim.ctx,
    sim.firmware.powerOn(),
    sim.stub.operator(),
    judgeBoot(),
    sim.kernel.boot(),
    sim.transport.prepare(),
    sim.kernel.workload(),
  );
}

/** The panic, the transport's persist, the exit (warm reset) and POST: the next stub has not run yet. */
export async function panicAndReset(sim: Sim): Promise<void> {
  await runStages(sim.ctx, sim.kernel.panic(), sim.transport.persist(), sim.exit.leave(), sim.firmware.resetAndPost());
}

/** The stub and the judge of the current boot. */
export async function stubAndJudge(sim: Sim): Promise<void> {
  await runStages(sim.ctx, sim.stub.operator(), judgeBoot());
}

/** A warm reset the panic path did not ask for (reboot, watchdog), POST, the stub and the judge. */
export async function cleanWarmResetToStub(sim: Sim): Promise<void> {
  sim.firmware.resetSystem(sim.ctx, 'warm');
  await runStages(sim.ctx, sim.firmware.resetAndPost());
  await stubAndJudge(sim);
}

/** A crashed boot, all the way to the capture kernel's stub. */
export async function crashedBoot(sim: Sim): Promise<void> {
  await bootAndArm(sim);
  await panicAndReset(sim);
  await stubAndJudge(sim);
}

export const warnings = (ctx: RunContext) => ctx.log.timeline.filter((e) => e.stage === 'stub' && e.kind === 'warn').map((e) => e.message);
