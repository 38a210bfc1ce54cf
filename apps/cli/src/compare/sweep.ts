import { createHash } from 'node:crypto';
import { ConfigError, OUTCOMES, SUCCESS_DEFAULT, type Design, type Scenario } from '@efikdump/core';
import { stableStringify } from './stats';
import { aggregate, designVerdicts, type CellRule, type CellSummary, type DesignVerdict } from './aggregate';
import { JobRunner } from './run-job';
import { jobKey, type BackendProgress, type JobResult, type SweepBackend, type SweepInfo, type SweepJob, type SweepMatrix } from './types';

/** The CLI's version: a result made by another version is not reused. */

const CLI_VERSION = (require('../../package.json') as { version: string }).version;

/**
 * The sweep id: 16 hex digits of SHA-256 over the matrix, every loaded design and scenario document
 * (without the path it was read from) and the CLI version. The same command on unchanged files
 * gives the same id on any machine; a changed design or scenario file gives another.
 */
export function sweepId(m: SweepMatrix, designs: Design[], scenarios: Scenario[]): string {
  const strip = <T extends { source: string }>(x: T) => ({ ...x, source: undefined });
  const doc = { format: 'efikdump-sweep/1', version: CLI_VERSION, matrix: m, designs: designs.map(strip), scenarios: scenarios.map(strip) };
  return createHash('sha256').update(stableStringify(doc)).digest('hex').slice(0, 16);
}

export const REPORT_FORMAT = 'efikdump-compare/1';

/** One stage of a representative run, in virtual µs. */
export interface StageSpan {
  stage: string;
  startUs: number;
  endUs: number;
}

/** One run per design, re-run in-process for its timeline and the firmware's retention map. */
export interface RepresentativeRun {
  design: string;
  scenario: string;
  seed: number;
  outcome: string;
  ramBytes: number;
  stages: StageSpan[];
  panicUs: number | null;
  retention: { policy: string; reset: string; boot: number; changedPages: number; changedRanges: [number, number][] }[];
}

/** The compared document: the same bytes for the same matrix and seeds, on any backend. */
export interface CompareReport {
  format: typeof REPORT_FORMAT;
  matrix: { designs: string[]; scenarios: string[]; runs: number; seedBase: number; seeds: [number, number] };
  outcomes: string[];
  /** Per design: the scenarios it loses and why, the failures expected of it, whether it reaches a dump on measured firmware. */
  verdict: DesignVerdict[];
  cells: CellSummary[];
  representatives: RepresentativeRun[];
}

/** Wall-clock figures: kept out of the compared document. */
export interface SweepTiming {
  backend: string;
  workers: number;
  jobs: number;
  wallSeconds: number;
  runsPerSecond: number;
}

/** Every (design, scenario, seed) job in a fixed order: design, scenario, then seed BASE + i. */
export function buildJobs(m: SweepMatrix): SweepJob[] {
  if (!Number.isSafeInteger(m.runs) || m.runs < 1)
    throw new ConfigError(`--runs expects a positive integer, found ${m.runs}`, { field: '--runs' });
  if (m.seedBase + m.runs - 1 > 0xffffffff) throw new ConfigError(`--seed + --runs must stay below 2^32`, { field: '--seed' });
  const jobs: SweepJob[] = [];
  const plugins = m.plugins?.length ? { plugins: m.plugins } : {};
  for (const design of m.designs)
    for (const scenario of m.scenarios) for (let i = 0; i < m.runs; i++) jobs.push({ design, scenario, seed: m.seedBase + i, ...plugins });
  return jobs;
}

function uniqueNames(kind: string, specs: string[], nameOf: (s: string) => string): Map<string, string> {
  const names = new Map<string, string>();
  const seen = new Map<string, string>();
  for (const s of specs) {
    const name = nameOf(s);
    const other = seen.get(name);
    if (other !== undefined) throw new ConfigError(`${kind} "${name}" is given twice (${other} and ${s})`, { field: `--${kind}s` });
    seen.set(name, s);
    names.set(s, name);
  }
  return names;
}

/**
 * The rule of one (design, scenario) cell: the scenario's success outcomes, and the failures it
 * expects of designs whose exit or transport plug-in its `expected` entries name (every entry
 * that matches contributes its outcomes and reason).
 */
export function cellRule(design: Pick<Design, 'components'>, scenario: Pick<Scenario, 'success' | 'expected'>): CellRule {
  const matches = (scenario.expected ?? []).filter(
    (e) =>
      (!e.when.exit || design.components.exit.some((x) => e.when.exit!.includes(x))) &&
      (!e.when.transport || design.components.transport.some((x) => e.when.transport!.includes(x))),
  );
  return {
    success: scenario.success ?? SUCCESS_DEFAULT,
    expected: matches.length
      ? { outcomes: [...new Set(matches.flatMap((e) => e.outcomes))], why: matches.map((e) => e.why).join('; ') }
      : null,
  };
}

/** Picks a representative run per design: its first dump-complete run (lowest scenario then seed), else its first run. */
function pickRepresentative(results: JobResult[]): JobResult {
  const sorted = [...results].sort((a, b) => (a.scenario < b.scenario ? -1 : a.scenario > b.scenario ? 1 : a.seed - b.seed));
  return sorted.find((r) => r.outcome === 'dump-complete') ?? sorted[0];
}

async function representative(runner: JobRunner, job: SweepJob, designName: string, scenarioName: string): Promise<RepresentativeRun> {
  const r = await runner.runFull(job);
  const starts = new Map<string, number>();
  const stages: StageSpan[] = [];
  for (const e of r.timeline) {
    if (e.kind === 'start') starts.set(e.stage, e.tUs);
    else if (e.kind === 'end' && starts.has(e.stage)) {
      stages.push({ stage: e.stage, startUs: starts.get(e.stage)!, endUs: e.tUs });
      starts.delete(e.stage);
    }
  }
  const panic = r.timeline.find((e) => e.stage === 'panic' && e.kind === 'start');
  return {
    design: designName,
    scenario: scenarioName,
    seed: job.seed,
    outcome: r.outcome,
    ramBytes: r.ramBytes,
    stages,
    panicUs: panic ? panic.tUs : null,
    retention: (r.firmware?.retention ?? []).map((x) => ({
      policy: x.policy,
      reset: x.reset,
      boot: x.boot,
      changedPages: x.changedPages,
      changedRanges: x.changedRanges,
    })),
  };
}

/** Runs the matrix on a backend and builds the report and its timing. Unknown names fail before any run. */
export async function runSweep(
  m: SweepMatrix,
  backend: SweepBackend,
  onProgress: BackendProgress = () => {},
  hooks: { onSweep?: (sweep: SweepInfo) => void; expectId?: string } = {},
): Promise<{ report: CompareReport; timing: SweepTiming; results: JobResult[]; sweep: SweepInfo }> {
  const runner = new JobRunner(m.plugins ?? []);
  const designNames = uniqueNames('design', m.designs, (s) => runner.design(s).name);
  const scenarioNames = uniqueNames('scenario', m.scenarios, (s) => runner.scenario(s).name);
  const jobs = buildJobs(m);
  const rules = new Map<string, CellRule>();
  for (const d of m.designs)
    for (const sc of m.scenarios)
      rules.set(`${designNames.get(d)}\u0000${scenarioNames.get(sc)}`, cellRule(runner.design(d), runner.scenario(sc)));

  const sweep: SweepInfo = {
    id: sweepId(
      m,
      m.designs.map((d) => runner.design(d)),
      m.scenarios.map((sc) => runner.scenario(sc)),
    ),
    matrix: m,
  };
  if (hooks.expectId !== undefined && hooks.expectId !== sweep.id) {
    throw new ConfigError(
      `sweep ${hooks.expectId} cannot be resumed: its designs or scenarios (or the efikdump version) changed since it started (they now make sweep ${sweep.id})`,
      { field: '--resume' },
    );
  }
  hooks.onSweep?.(sweep);
  const t0 = process.hrtime.bigint();
  const byKey = await backend.runAll(jobs, onProgress, sweep);
  const wallSeconds = Number(process.hrtime.bigint() - t0) / 1e9;

  const results: JobResult[] = jobs.map((j) => {
    const r = byKey.get(jobKey(j));
    if (!r) throw new Error(`backend ${backend.name} returned no result for ${jobKey(j)}`);
    return { ...r, design: designNames.get(j.design)!, scenario: scenarioNames.get(j.scenario)! };
  });
  if (byKey.size !== jobs.length) throw new Error(`backend ${backend.name} returned ${byKey.size} results for ${jobs.length} jobs`);

  const representatives: RepresentativeRun[] = [];
  for (const spec of m.designs) {
    const name = designNames.get(spec)!;
    const pick = pickRepresentative(results.filter((r) => r.design === name));
    const scenarioSpec = m.scenarios.find((s) => scenarioNames.get(s) === pick.scenario)!;
    representatives.push(await representative(runner, { design: spec, scenario: scenarioSpec, seed: pick.seed }, name, pick.scenario));
  }
  representatives.sort((a, b) => (a.design < b.design ? -1 : a.design > b.design ? 1 : 0));

  const report: CompareReport = {
    format: REPORT_FORMAT,
    matrix: {
      designs: [...designNames.values()].sort(),
      scenarios: [...scenarioNames.values()].sort(),
      runs: m.runs,
      seedBase: m.seedBase,
      seeds: [m.seedBase, m.seedBase + m.runs - 1],
    },
    outcomes: [...OUTCOMES],
    verdict: [],
    cells: aggregate(results, (d, s) => rules.get(`${d}\u0000${s}`)!),
    representatives,
  };
  report.verdict = designVerdicts(report.cells);
  const timing: SweepTiming = {
    backend: backend.name,
    workers: backend.workers,
    jobs: jobs.length,
    wallSeconds,
    runsPerSecond: jobs.length / wallSeconds,
  };
  return { report, timing, results, sweep };
}
