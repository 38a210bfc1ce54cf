import type { DependencyContainer } from 'tsyringe';
import { VirtualClock } from './clock';
import { componentRefsOf, MAX_CPUS, MAX_RAM, MIN_RAM, triggerNameOf, type Design, type RunOptions, type Scenario } from './config';
import { FIRMWARE, RUN_CONTAINER, RUN_CONTEXT, SLOT_KEYS, type PluginSlotKey } from './contracts';
import type { RunContext } from './context';
import { ConfigError } from './errors';
import { EventLog } from './events';
import { PhysicalMemory } from './memory/physical-memory';
import { bindSlot, catalogOf } from './plugins';
import { Rng } from './rng';

// Not exported from the package index: the one place a run's container and context are built,
// shared by the runner's createRun and the public test kit (`@efikdump/core/testing`).

/** What a run is made from: `createRun`'s input (re-exported by the runner). */
export interface RunInput {
  design: Design;
  scenario: Scenario;
  seed: number;
  /** Overrides of the scenario's machine. */
  ramBytes?: number;
  cpus?: number;
  options?: Partial<RunOptions>;
}

export interface RunSetupInput extends RunInput {
  /**
   * The slots to bind, in the run's order (default: every slot of the design, then the scenario's
   * trigger). A test that runs only some stages names only the slots it resolves.
   */
  slots?: readonly PluginSlotKey[];
  /**
   * The machine's memory, built by the caller (test kit only): its RAM is the machine's, no
   * firmware is asked for a layout and the `--memory` range checks do not apply.
   */
  memory?: PhysicalMemory;
}

export interface RunSetup {
  /** The run's child container: its slots bound, RUN_CONTEXT and RUN_CONTAINER registered. */
  readonly run: DependencyContainer;
  readonly ctx: RunContext;
}

export const DEFAULT_RUN_OPTIONS: RunOptions = { truthPages: 1024, truthZeroPages: 256 };

/**
 * Validates the run's inputs, makes the run's child container with the named slots bound as the
 * design (and, for the trigger, the scenario) says, and builds the run's context: the simulated
 * machine (its memory laid out by the design's firmware), the virtual clock, the seeded generator,
 * the event log and an empty run state. Nothing runs yet.
 */
export function setUpRun(container: DependencyContainer, input: RunSetupInput): RunSetup {
  const { design, scenario } = input;
  const seed = input.seed >>> 0;
  if (!Number.isSafeInteger(input.seed) || input.seed < 0 || input.seed > 0xffffffff) {
    throw new ConfigError(`seed must be an integer from 0 to 4294967295, found ${input.seed}`, { field: '--seed' });
  }
  const ramBytes = input.memory?.ramBytes ?? input.ramBytes ?? scenario.machine.ramBytes;
  const cpus = input.cpus ?? scenario.machine.cpus;
  if (!input.memory && (!Number.isSafeInteger(ramBytes) || ramBytes < MIN_RAM || ramBytes > MAX_RAM || ramBytes % (1024 * 1024))) {
    throw new ConfigError(`memory must be a whole number of MiB from 256MiB to 64TiB`, { field: '--memory' });
  }
  if (!Number.isSafeInteger(cpus) || cpus < 1 || cpus > MAX_CPUS) {
    throw new ConfigError(`cpus must be an integer from 1 to ${MAX_CPUS}, found ${cpus}`, { field: '--cpus' });
  }

  const slots = input.slots ?? [...SLOT_KEYS, 'trigger'];
  const catalog = catalogOf(container);
  const run = container.createChildContainer();
  for (const slot of slots) {
    if (slot !== 'trigger') bindSlot(run, catalog, slot, componentRefsOf(design, slot), design.source);
  }

  let memory = input.memory;
  if (!memory) {
    if (!slots.includes('firmware')) throw new ConfigError('a run without a firmware slot needs its memory given (setUpRun: memory)');
    memory = new PhysicalMemory({ seed, ram: run.resolve(FIRMWARE).ramLayout(ramBytes), mix: scenario.machine.pageMix });
  }
  const clock = new VirtualClock();
  const log = new EventLog(clock);
  const ctx: RunContext = {
    seed,
    design,
    scenario,
    options: { ...DEFAULT_RUN_OPTIONS, ...(input.options ?? {}) },
    machine: { ramBytes, cpus, memory },
    clock,
    rng: new Rng(seed, 0x5eed),
    log,
    state: { bootCount: 0, owned: new Map() },
    metrics: {},
    artifacts: {},
  };
  run.registerInstance(RUN_CONTEXT, ctx);
  run.registerInstance(RUN_CONTAINER, run);

  if (slots.includes('trigger')) {
    bindSlot(
      run,
      catalog,
      'trigger',
      [triggerNameOf(scenario)],
      scenario.source,
      scenario.trigger ? 'trigger' : scenario.attack ? 'attack.crashMarker' : 'trigger',
    );
  }
  return { run, ctx };
}
