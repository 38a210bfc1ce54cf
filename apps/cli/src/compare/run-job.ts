import { createRun, type Design, type PluginRef, type RunResult, type Scenario } from '@efikdump/core';
import type { DependencyContainer } from 'tsyringe';
import { loadDesign, loadScenario } from '../library';
import { createContainer } from '../container';
import type { JobResult, SweepJob } from './types';

/** Stages whose end marks the dump as made: verification through /proc/vmcore, or the writer. */
const DUMP_DONE_STAGES = new Set(['verify', 'dump-write']);

/** Virtual µs from the panic stage's start to the last end of dump-write/verify; null when no dump was made. */
export function crashToDumpUs(timeline: RunResult['timeline']): number | null {
  const panic = timeline.find((e) => e.stage === 'panic' && e.kind === 'start');
  let done: number | undefined;
  for (const e of timeline) if (e.kind === 'end' && DUMP_DONE_STAGES.has(e.stage)) done = e.tUs;
  return panic && done !== undefined ? done - panic.tUs : null;
}

export function summarize(job: SweepJob, r: RunResult): JobResult {
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  return {
    design: job.design,
    scenario: job.scenario,
    seed: job.seed,
    outcome: r.outcome,
    fidelity: num(r.metrics.fidelity),
    // The run's own figure (panic to the end of the writer, the write charged when no file was asked for); older results only have the timeline.
    crashToDumpUs: num(r.metrics.crashToDumpUs) ?? crashToDumpUs(r.timeline),
    nvramBytesWritten: num(r.metrics.nvramBytesWritten),
    consoleSeen: typeof r.metrics.consoleSeen === 'boolean' ? r.metrics.consoleSeen : null,
    reason: r.reason,
    firmwarePagesChanged: num(r.metrics.firmwarePagesChanged),
    pagesDeclaredLost: num(r.metrics.pagesDeclaredLost),
    ramWithheldBytes: num(r.metrics.ramWithheldBytes),
    firmwareModelled: typeof r.metrics.firmwareModelled === 'boolean' ? r.metrics.firmwareModelled : null,
    nextBoot:
      typeof r.metrics.offlineDumpAbnormalReset === 'boolean'
        ? {
            abnormalReset: r.metrics.offlineDumpAbnormalReset,
            expected: r.metrics.offlineDumpExpected === true,
            written: typeof r.metrics.offlineDumpBytes === 'number',
            creationErrors: num(r.metrics.offlineDumpCreationErrors) ?? 0,
          }
        : null,
  };
}

/**
 * Loads designs and scenarios once per process and runs jobs, each in a container with the
 * built-in plug-ins, the runner's own (a worker's --plugin), the job's (the coordinator's
 * --plugin and EFIKDUMP_PLUGINS) and the design's `plugins`; one container per set of packages.
 */
export class JobRunner {
  private readonly designs = new Map<string, Design>();
  private readonly scenarios = new Map<string, Scenario>();
  private readonly containers = new Map<string, DependencyContainer>();
  constructor(private readonly extra: readonly PluginRef[] = []) {}

  design(name: string, plugins: readonly PluginRef[] = []): Design {
    let d = this.designs.get(name);
    if (!d) this.designs.set(name, (d = loadDesign(name, [...this.extra, ...plugins])));
    return d;
  }

  private containerFor(design: Design, plugins: readonly PluginRef[]): DependencyContainer {
    const refs = [...this.extra, ...plugins, ...(design.plugins ?? [])];
    const key = JSON.stringify(refs.map((r) => [r.spec, r.from]));
    let c = this.containers.get(key);
    if (!c) this.containers.set(key, (c = createContainer(refs)));
    return c;
  }

  scenario(name: string): Scenario {
    let s = this.scenarios.get(name);
    if (!s) this.scenarios.set(name, (s = loadScenario(name)));
    return s;
  }

  /** The full RunResult (timeline, firmware report): the report's representative runs use it. */
  async runFull(job: SweepJob): Promise<RunResult> {
    // No --out: the run verifies through the /proc/vmcore view and writes nothing.
    const design = this.design(job.design, job.plugins);
    return createRun(this.containerFor(design, job.plugins ?? []), {
      design,
      scenario: this.scenario(job.scenario),
      seed: job.seed,
    }).start();
  }

  async run(job: SweepJob): Promise<JobResult> {
    return summarize(job, await this.runFull(job));
  }
}
