// The public test kit (`@efikdump/core/testing`): a run's child container and context, built by the
// same code as the runner's createRun, for testing a plug-in's stages one by one. It has no test
// framework in it: plain functions any runner (Jest, node:test, mocha) can call.
import 'reflect-metadata';
import { lastValueFrom, of } from 'rxjs';
import { container as globalContainer, type DependencyContainer, type InjectionToken } from 'tsyringe';
import { parseDesign, parseScenario, type Design, type RunOptions, type Scenario } from '../config';
import type { PluginSlotKey, StageOperator } from '../contracts';
import type { HandoffInfo, RunContext, RunState } from '../context';
import { FLAG_ARMED, FLAG_CRASHED, type HandoffRecord } from '../handoff/record';
import type { RunEvent } from '../events';
import type { PhysicalMemory } from '../memory/physical-memory';
import { setUpRun } from '../run-setup';
import { withScenarioKernel } from '../runner';

/** A package's plug-in entry point: what `register` of `@efikdump/transports` (or yours) is. */
export type RegisterFunction = (container: DependencyContainer) => void;

/**
 * A fresh container (a child of tsyringe's global one, as the CLI uses) with each package's
 * plug-ins registered: build it once per test file and pass it to every createTestRun.
 */
export function pluginContainer(...packages: RegisterFunction[]): DependencyContainer {
  const c = globalContainer.createChildContainer();
  for (const register of packages) register(c);
  return c;
}

/** The components of the test design when a test names none: the built-in reserved-memory design's. */
export const TEST_COMPONENTS: Readonly<Record<string, string | string[]>> = {
  firmware: 'uefi',
  retention: ['retain-all'],
  kernel: 'linux',
  transport: 'reserved-memory',
  exit: 'efi-warm-reset',
  detector: 'reserved-memory-magic',
  stub: 'linux-efi-stub',
  capture: 'linux-vmcore',
  writer: 'elf',
};

/** The kernel command line of the test design when a test names none. */
export const TEST_CMDLINE = 'ro console=ttyS0 nokaslr crashkernel=0M-1G:128M,1G-4G:192M,4G-64G:256M,64G-:512M';

/**
 * A design for a test, parsed (and so checked) as a design file would be: the test components
 * with `components` replacing some of them, and the other design fields (`kernel`, `firmware`,
 * `kdump`, `capture`, ...) as given. Component names are checked against the registered plug-ins
 * when createTestRun binds them.
 */
export function testDesign(overrides: { components?: Record<string, string | string[]> } & Record<string, unknown> = {}): Design {
  const { components, ...rest } = overrides;
  return parseDesign(
    {
      format: 'efikdump-design/1',
      name: 'test-design',
      description: 'a design under test',
      kernel: { cmdline: TEST_CMDLINE },
      firmware: { profile: 'ovmf' },
      ...rest,
      components: { ...TEST_COMPONENTS, ...(components ?? {}) },
    },
    String(rest.source ?? 'test-design.json'),
  );
}

/**
 * A scenario for a test, parsed as a scenario file would be: a 1 GiB, 2-CPU machine with a small
 * workload, `machine` fields merged, other fields (`firmware`, `faults`, `attack`, `trigger`, ...)
 * as given.
 */
export function testScenario(
  overrides: { machine?: Record<string, unknown> } & Record<string, unknown> = {},
  source = 'test-scenario.json',
): Scenario {
  const { machine, ...rest } = overrides;
  return parseScenario(
    {
      format: 'efikdump-scenario/1',
      name: 'test-scenario',
      description: 'a machine under test',
      workload: { pageWrites: 8 },
      ...rest,
      machine: { memory: 1024 ** 3, cpus: 2, ...(machine ?? {}) },
    },
    source,
  );
}

export interface TestRunInput {
  /** The container the plug-ins registered into (see pluginContainer). */
  container: DependencyContainer;
  /** Default: testDesign(). */
  design?: Design;
  /** Default: testScenario(). */
  scenario?: Scenario;
  /** Default 1. */
  seed?: number;
  /**
   * The machine's RAM in bytes (as `--memory`; default the scenario's), or a PhysicalMemory the
   * test built itself (its RAM is then the machine's; no firmware is asked for a layout).
   */
  memory?: number | PhysicalMemory;
  /** Default: the scenario's. */
  cpus?: number;
  /** Run options (default: the runner's). */
  options?: Partial<RunOptions>;
  /**
   * Slots to bind (default: all of the design's and the scenario's trigger, as a run binds them).
   * Name only those the test resolves when the container lacks some plug-ins.
   */
  slots?: readonly PluginSlotKey[];
  /** Run state to start from, merged over the empty state (e.g. a later boot, a stub verdict). */
  state?: Partial<RunState>;
}

export interface TestRun {
  readonly ctx: RunContext;
  /** The run's child container: resolve a slot's token to get the design's implementation. */
  readonly run: DependencyContainer;
  /** Every event the run emitted so far, progress included. */
  readonly events: RunEvent[];
  resolve<T>(token: InjectionToken<T>): T;
  /** Runs the stages in order over the run's context and resolves with it. */
  stages(...ops: StageOperator[]): Promise<RunContext>;
  /** The messages of the events of one stage and kind (default: warnings). */
  messages(stage: string, kind?: string): string[];
}

/** A run's container and context as createRun builds them (the same code), before any stage runs. */
export function createTestRun(input: TestRunInput): TestRun {
  const memory = typeof input.memory === 'object' ? input.memory : undefined;
  const scenario = input.scenario ?? testScenario();
  const { run, ctx } = setUpRun(input.container, {
    design: withScenarioKernel(input.design ?? testDesign(), scenario),
    scenario,
    seed: input.seed ?? 1,
    ramBytes: typeof input.memory === 'number' ? input.memory : undefined,
    memory,
    cpus: input.cpus,
    options: input.options,
    slots: input.slots,
  });
  if (input.state) Object.assign(ctx.state, input.state);
  const events: RunEvent[] = [];
  ctx.log.events$.subscribe((e) => events.push(e));
  return {
    ctx,
    run,
    events,
    resolve: (token) => run.resolve(token),
    stages: (...ops) => runStages(ctx, ...ops),
    messages: (stage, kind = 'warn') => ctx.log.timeline.filter((e) => e.stage === stage && e.kind === kind).map((e) => e.message),
  };
}

/** Runs stages in order over a context (what the runner's pipeline does, without the run's bookkeeping). */
export function runStages(ctx: RunContext, ...ops: StageOperator[]): Promise<RunContext> {
  return lastValueFrom(ops.reduce((obs, op) => obs.pipe(op), of(ctx)));
}

/**
 * A crashed, armed handoff record (the one `sysrq-trigger c` leaves on a 2-CPU machine) for codec
 * and container tests: pass `over` to change its fields (`info` is merged).
 */
export function sampleHandoffRecord(
  over: Partial<Omit<HandoffRecord, 'info' | 'mac'>> & { info?: Partial<HandoffInfo> } = {},
): Omit<HandoffRecord, 'mac'> {
  const { info, ...rest } = over;
  return {
    flags: FLAG_ARMED | FLAG_CRASHED,
    reason: 'sysrq: Trigger a crash',
    logTail: 'Kernel panic - not syncing: sysrq triggered crash\n',
    ...rest,
    info: {
      version: 2,
      bootNonce: '00000000cafef00d',
      crashkernel: [{ start: 0x9000000, end: 0xf000000 }],
      elfcorehdr: { paddr: 0xefff000, size: 512, sha256: '11'.repeat(32) },
      crashTimeUnix: 1767225689,
      cpus: 2,
      ...info,
    },
  };
}
