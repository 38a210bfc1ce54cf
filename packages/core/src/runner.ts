import { lastValueFrom, of, type Observable } from 'rxjs';
import type { DependencyContainer } from 'tsyringe';
import { captureTruth, consumeHandoff, judgeBoot, verifyAgainstTruth, writeHandoffArtifacts } from './builtin-stages';
import { capturePanicLoop, dumpOnDisk, rebootRequest } from './crash-stages';
import { forgeCrashMarker, handoffRecordFault, replayRoute } from './attack-stages';
import { VirtualClock } from './clock';
import type { Design, Scenario } from './config';
import { CAPTURE, DETECTOR, EXIT, FIRMWARE, KERNEL, RUN_CONTAINER, RUN_CONTEXT, STUB, TRANSPORT, WRITER, SLOT_KEYS, type StageOperator } from './contracts';
import type { RunContext, RunOptions, RunResult } from './context';
import { EventLog, type RunEvent } from './events';
import { PhysicalMemory } from './memory/physical-memory';
import { bindSlot, catalogOf } from './plugins';
import { Rng } from './rng';
import { ConfigError } from './errors';
import { MAX_CPUS, MAX_RAM, MIN_RAM } from './config';

export interface RunInput {
  design: Design;
  scenario: Scenario;
  seed: number;
  /** Overrides of the scenario's machine. */
  ramBytes?: number;
  cpus?: number;
  options?: Partial<RunOptions>;
}

export interface Run {
  /** The run's typed events, in order; completes when the run ends. */
  readonly events$: Observable<RunEvent>;
  /** Starts the run (once) and resolves with its result. */
  start(): Promise<RunResult>;
}

export const DEFAULT_RUN_OPTIONS: RunOptions = { truthPages: 1024, truthZeroPages: 256 };

/**
 * Builds one run: a child container whose slots are bound as the design says, the simulated
 * machine, and the pipeline of stages from power-on to a verified dump.
 */
export function createRun(container: DependencyContainer, input: RunInput): Run {
  const { scenario } = input;
  const design = withScenarioKernel(input.design, scenario);
  const seed = input.seed >>> 0;
  if (!Number.isSafeInteger(input.seed) || input.seed < 0 || input.seed > 0xffffffff) {
    throw new ConfigError(`seed must be an integer from 0 to 4294967295, found ${input.seed}`, { field: '--seed' });
  }
  const ramBytes = input.ramBytes ?? scenario.machine.ramBytes;
  const cpus = input.cpus ?? scenario.machine.cpus;
  if (!Number.isSafeInteger(ramBytes) || ramBytes < MIN_RAM || ramBytes > MAX_RAM || ramBytes % (1024 * 1024)) {
    throw new ConfigError(`memory must be a whole number of MiB from 256MiB to 64TiB`, { field: '--memory' });
  }
  if (!Number.isSafeInteger(cpus) || cpus < 1 || cpus > MAX_CPUS) {
    throw new ConfigError(`cpus must be an integer from 1 to ${MAX_CPUS}, found ${cpus}`, { field: '--cpus' });
  }

  const catalog = catalogOf(container);
  const run = container.createChildContainer();
  for (const slot of SLOT_KEYS) bindSlot(run, catalog, slot, design.components[slot], design.source);

  const firmware = run.resolve(FIRMWARE);
  const clock = new VirtualClock();
  const log = new EventLog(clock);
  const memory = new PhysicalMemory({ seed, ram: firmware.ramLayout(ramBytes), mix: scenario.machine.pageMix });
  const ctx: RunContext = {
    seed,
    design,
    scenario,
    options: { ...DEFAULT_RUN_OPTIONS, ...(input.options ?? {}) },
    machine: { ramBytes, cpus, memory },
    clock,
    rng: new Rng(seed, 0x5eed),
    log,
    state: { bootCount: 0 },
    metrics: {},
    artifacts: {},
  };
  run.registerInstance(RUN_CONTEXT, ctx);
  run.registerInstance(RUN_CONTAINER, run);

  const kernel = run.resolve(KERNEL);
  const transport = run.resolve(TRANSPORT);
  const stub = run.resolve(STUB);
  const exit = run.resolve(EXIT);
  const capture = run.resolve(CAPTURE);
  run.resolve(DETECTOR);
  // The stub runs on every boot: on the first to issue the boot secret, on the next to decide.
  const prefix: StageOperator[] = [
    firmware.powerOn(),
    stub.operator(),
    judgeBoot(),
    kernel.boot(),
    transport.prepare(),
    kernel.workload(),
    captureTruth(),
  ];
  // After a capture kernel panics it reboots (panic=10): POST, the stub, the verdict; a capture boot again runs the capture kernel again.
  const rebootAfterCapturePanic: StageOperator[] = [rebootRequest(firmware), firmware.resetAndPost(), stub.operator(), judgeBoot(), capture.boot()];
  const captureAndSave: StageOperator[] = [
    capture.boot(),
    capturePanicLoop(rebootAfterCapturePanic),
    capture.vmcoreInit(),
    run.resolve(WRITER).operator(),
    dumpOnDisk(),
    writeHandoffArtifacts(transport),
    consumeHandoff(transport),
    verifyAgainstTruth(),
  ];
  // A scenario's damage to the stored record: the armed page kept before persist, the damage after it (torn) or during the reset (DMA).
  const fault = handoffRecordFault(scenario.faults?.handoffRecord);
  const persist: StageOperator[] = fault ? [fault.before, transport.persist(), ...(scenario.faults?.handoffRecord === 'torn-write' ? [fault.damage] : [])] : [transport.persist()];
  const duringReset: StageOperator[] = fault && scenario.faults?.handoffRecord === 'dma-during-reset' ? [fault.damage] : [];
  let stages: StageOperator[];
  if (scenario.attack?.crashMarker === 'replayed' && exit.path === 'firmware-reset') {
    // A genuine crash and its capture boot, a normal boot, then root writes the old record back.
    stages = [...prefix, ...replayRoute({
      firmware, panic: kernel.panic(), persist: transport.persist(), prepare: transport.prepare(), exit: exit.operator(), stub: stub.operator(), consume: consumeHandoff(transport),
    }), judgeBoot(), writeHandoffArtifacts(transport)];
  } else if (scenario.attack) {
    // No panic: root forges a crash marker through the design's transport and reboots.
    stages = [...prefix, forgeCrashMarker(scenario.attack.crashMarker), transport.persist(), rebootRequest(firmware), firmware.resetAndPost(), stub.operator(), judgeBoot(), writeHandoffArtifacts(transport)];
  } else if (exit.path === 'kexec') {
    stages = [...prefix, kernel.panic(), ...persist, exit.operator(), ...duringReset, ...captureAndSave];
  } else if (exit.path === 'fadump') {
    if (!exit.afterPost) throw new ConfigError(`exit ${exit.name} takes the fadump path but has no boot after POST`, { file: design.source, field: 'components.exit' });
    stages = [...prefix, kernel.panic(), ...persist, exit.operator(), ...duringReset, firmware.resetAndPost(), exit.afterPost(), ...captureAndSave];
  } else {
    stages = [...prefix, kernel.panic(), ...persist, exit.operator(), ...duringReset, firmware.resetAndPost(), stub.operator(), judgeBoot(), ...captureAndSave];
  }

  let started: Promise<RunResult> | undefined;
  const start = (): Promise<RunResult> => {
    if (started) return started;
    const pipeline = stages.reduce((obs, op) => obs.pipe(op), of(ctx));
    started = lastValueFrom(pipeline).then(
      (done) => {
        const outcome = done.outcome ?? { outcome: 'dump-complete' as const, reason: 'every sampled page matches the truth' };
        log.emit('run', 'outcome', `${outcome.outcome}: ${outcome.reason}`);
        done.metrics.virtualTimeUs = clock.nowUs;
        log.complete();
        return toResult(done, outcome);
      },
      (err: unknown) => {
        log.complete();
        throw err;
      },
    );
    return started;
  };
  return { events$: log.events$, start };
}

function toResult(ctx: RunContext, outcome: NonNullable<RunContext['outcome']>): RunResult {
  const firmware = ctx.state.firmware?.finish();
  const sortedMetrics = Object.fromEntries(Object.entries(ctx.metrics).sort(([a], [b]) => a.localeCompare(b)));
  return {
    format: 'efikdump-run/1',
    design: ctx.design.name,
    scenario: ctx.scenario.name,
    seed: ctx.seed,
    ramBytes: ctx.machine.ramBytes,
    cpus: ctx.machine.cpus,
    outcome: outcome.outcome,
    reason: outcome.reason,
    metrics: sortedMetrics,
    artifacts: { ...ctx.artifacts },
    timeline: ctx.log.timeline.map(({ tUs, stage, kind, message }) => ({ tUs, stage, kind, message })),
    ...(firmware ? { firmware } : {}),
  };
}

/** The design as the scenario runs it: a scenario's `kernel.crashkernel` replaces the command line's `crashkernel=`. */
export function withScenarioKernel(design: Design, scenario: Scenario): Design {
  const ck = scenario.kernel?.crashkernel;
  if (!ck) return design;
  const args = design.kernel.cmdline.split(/\s+/).filter((a) => a && !a.startsWith('crashkernel='));
  return { ...design, kernel: { ...design.kernel, cmdline: [...args, `crashkernel=${ck}`].join(' ') } };
}
