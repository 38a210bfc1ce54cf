import { lastValueFrom, of, type Observable } from 'rxjs';
import type { DependencyContainer } from 'tsyringe';
import { captureTruth, verifyAgainstTruth } from './lab/truth-stages';
import { judgeBoot } from './lab/judge';
import { consumeHandoff, writeHandoffArtifacts } from './lab/handoff-steps';
import { dumpOnDisk } from './lab/save';
import { handoffRecordFault } from './lab/scenario-faults';
import type { Design, Scenario } from './config';
import {
  CAPTURE,
  DETECTOR,
  EXIT,
  FIRMWARE,
  KERNEL,
  STUB,
  TRANSPORT,
  TRIGGER,
  WRITER,
  type RouteInput,
  type StageOperator,
} from './contracts';
import type { RunContext, RunResult } from './context';
import type { RunEvent } from './events';
import { setUpRun, type RunInput } from './run-setup';

export type { RunInput } from './run-setup';

export interface Run {
  /** The run's typed events, in order; completes when the run ends. */
  readonly events$: Observable<RunEvent>;
  /** Starts the run (once) and resolves with its result. */
  start(): Promise<RunResult>;
}

export { DEFAULT_RUN_OPTIONS } from './run-setup';

/**
 * Builds one run: a child container whose slots are bound as the design (and, for the trigger,
 * the scenario) says, the simulated machine, and the pipeline of stages from power-on to a
 * verified dump: boot → trigger → persist → the exit's route (or the trigger's own) → save → verify.
 * The runner knows no exit path: each exit returns its route.
 */
export function createRun(container: DependencyContainer, input: RunInput): Run {
  const { scenario } = input;
  const design = withScenarioKernel(input.design, scenario);
  const { run, ctx } = setUpRun(container, { ...input, design });
  const { clock, log } = ctx;
  const firmware = run.resolve(FIRMWARE);
  // Resolved in this order since before exits owned their routes (constructors may draw on the run).
  const kernel = run.resolve(KERNEL);
  const transport = run.resolve(TRANSPORT);
  const stub = run.resolve(STUB);
  const exit = run.resolve(EXIT);
  const capture = run.resolve(CAPTURE);
  const detector = run.resolve(DETECTOR);
  // The scenario's damage to the stored record: the armed page kept before persist, the damage after it (torn) or while the machine is in flight (DMA during the reset).
  const fault = handoffRecordFault(scenario.faults?.handoffRecord);
  const slots: RouteInput = {
    firmware,
    kernel,
    transport,
    exit,
    detector,
    stub,
    capture,
    writer: run.resolve(WRITER),
    inFlight: fault && scenario.faults?.handoffRecord === 'dma-during-reset' ? [fault.damage] : [],
  };
  // The stub runs on every boot: on the first to issue the boot secret, on the next to decide.
  const boot: StageOperator[] = [
    firmware.powerOn(),
    stub.operator(),
    judgeBoot(),
    kernel.boot(),
    transport.prepare(),
    kernel.workload(),
    captureTruth(exit.dumpExcludesReservation !== false),
  ];
  const trigger = run.resolve(TRIGGER);
  const persist: StageOperator[] =
    trigger.persists === false
      ? []
      : fault
        ? [fault.before, transport.persist(), ...(scenario.faults?.handoffRecord === 'torn-write' ? [fault.damage] : [])]
        : [transport.persist()];
  const route = trigger.route?.(slots) ?? exit.route(slots);
  const save: StageOperator[] = [
    slots.writer.operator(),
    dumpOnDisk(slots.writer),
    writeHandoffArtifacts(transport),
    consumeHandoff(transport),
  ];
  const stages: StageOperator[] = [...boot, ...trigger.stages(slots), ...persist, ...route, ...save, verifyAgainstTruth()];

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
