// Test support only (not published): a run's child container bound as core's createRun binds it,
// with the stub running on every boot and the judge after it, as in the runner's pipeline.
import path from 'node:path';
import { lastValueFrom, of } from 'rxjs';
import { container, type DependencyContainer } from 'tsyringe';
import {
  bindSlot, catalogOf, DETECTOR, EventLog, EXIT, FIRMWARE, FIRMWARE_SERVICES, judgeBoot, KERNEL, parseDesign, parseScenario,
  PhysicalMemory, readJsonFile, Rng, RUN_CONTAINER, RUN_CONTEXT, STUB, TRANSPORT, VirtualClock,
  type CrashDetector, type Design, type EfiStub, type ExitStrategy, type Firmware, type FirmwareServices, type FirstKernel,
  type HandoffTransport, type RunContext, type SlotKey, type StageOperator,
} from '@efikdump/core';
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
  return parseDesign({
    ...doc,
    components: { ...doc.components, ...(opts.transport ? { transport: opts.transport } : {}), ...(opts.detector ? { detector: opts.detector } : {}) },
    kernel: { cmdline: opts.cmdline ?? CMDLINE },
    firmware: { profile: opts.profile ?? 'ovmf' },
  }, DESIGN_FILE);
}

let root: DependencyContainer | undefined;
export function rootContainer(): DependencyContainer {
  if (!root) {
    root = container.createChildContainer();
    for (const r of [registerFirmware, registerKernel, registerTransports, registerVmcore, register]) r(root);
  }
  return root;
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

export function machine(seed: number, ramBytes: number, opts: { cpus?: number; design?: Design; firmware?: Record<string, unknown> } = {}): Sim {
  const design = opts.design ?? designWith();
  const scenario = parseScenario({
    format: 'efikdump-scenario/1', name: 'stub-test', description: 'a small machine for the EFI stub',
    machine: { memory: ramBytes, cpus: opts.cpus ?? 2 }, workload: { pageWrites: 8 },
    // Unit tests of the EFI stub run on firmware that keeps RAM (no scratch ranges) unless they name some: POST's measured writes are tested end to end (apps/cli measured-firmware.test.ts).
    firmware: { scratch: [], ...(opts.firmware ?? {}) },
  }, 'stub-test');
  const base = rootContainer();
  const run = base.createChildContainer();
  for (const slot of UP_TO_STUB) bindSlot(run, catalogOf(base), slot, design.components[slot], design.source);
  const firmware = run.resolve(FIRMWARE);
  const clock = new VirtualClock();
  const ctx: RunContext = {
    seed, design, scenario,
    options: { truthPages: 16, truthZeroPages: 4 },
    machine: { ramBytes, cpus: scenario.machine.cpus, memory: new PhysicalMemory({ seed, ram: firmware.ramLayout(ramBytes) }) },
    clock, rng: new Rng(seed, 0x5eed), log: new EventLog(clock), state: { bootCount: 0 }, metrics: {}, artifacts: {},
  };
  run.registerInstance(RUN_CONTEXT, ctx);
  run.registerInstance(RUN_CONTAINER, run);
  return {
    ctx, run, firmware,
    services: run.resolve(FIRMWARE_SERVICES),
    kernel: run.resolve(KERNEL),
    transport: run.resolve(TRANSPORT),
    exit: run.resolve(EXIT),
    detector: run.resolve(DETECTOR),
    stub: run.resolve(STUB),
  };
}

export const runStages = (ctx: RunContext, ...ops: StageOperator[]): Promise<RunContext> => lastValueFrom(ops.reduce((obs, op) => obs.pipe(op), of(ctx)));

/** Power-on, the stub of boot #1 (it issues the boot secret), the 1st kernel, kdump armed, the workload. */
export async function bootAndArm(sim: Sim): Promise<void> {
  await runStages(sim.ctx, sim.firmware.powerOn(), sim.stub.operator(), judgeBoot(), sim.kernel.boot(), sim.transport.prepare(), sim.kernel.workload());
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
