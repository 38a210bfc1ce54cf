import { OUTCOMES, SUCCESS_DEFAULT, type Outcome } from '@efikdump/core';
import { median, percentile, round6, wilsonInterval } from './stats';
import type { JobResult } from './types';

export interface DistributionSummary {
  count: number;
  min: number;
  q1: number;
  median: number;
  q3: number;
  p95: number;
  max: number;
  /** Every value, ascending (strip plots draw them). */
  values: number[];
}

/** What counts for one cell: the scenario's success outcomes, and the failure it expects of this design (if any). */
export interface CellRule {
  success: readonly Outcome[];
  expected: { outcomes: readonly Outcome[]; why: string } | null;
}

export const DEFAULT_RULE: CellRule = { success: SUCCESS_DEFAULT, expected: null };

/**
 * How a cell ends: `pass` every run succeeded; `expected` no run failed in a way the scenario did
 * not expect of this design (at least one expected failure); `loss` some run failed unexpectedly.
 */
export type CellStatus = 'pass' | 'expected' | 'loss';

export interface MetricSummary {
  median: number;
  max: number;
}

/** One (design, scenario) cell of the sweep. */
export interface CellSummary {
  design: string;
  scenario: string;
  runs: number;
  outcomes: Record<Outcome, number>;
  /** The outcomes the scenario counts as success. */
  successOutcomes: Outcome[];
  /** The failure the scenario expects of this design, when it names one. */
  expected: { outcomes: Outcome[]; why: string; count: number } | null;
  /** Runs whose outcome is one of successOutcomes, their rate and its Wilson 95 % interval. */
  success: { count: number; rate: number; wilson95: [number, number] };
  status: CellStatus;
  /** The lowest-seed run that failed unexpectedly: its outcome and reason. */
  firstLoss: { seed: number; outcome: Outcome; reason: string } | null;
  fidelity: { count: number; mean: number; min: number } | null;
  crashToDumpUs: DistributionSummary | null;
  nvramBytesWritten: MetricSummary | null;
  consoleSeen: { seen: number; of: number } | null;
  firmwarePagesChanged: MetricSummary | null;
  pagesDeclaredLost: MetricSummary | null;
  ramWithheldBytes: MetricSummary | null;
  /** True when any run's firmware retention was modelled, false when every run's was measured, null when no run said. */
  firmwareModelled: boolean | null;
  /**
   * What the next boot learns from the firmware → OS record (OffCD's configuration table), over
   * the runs that report it: how many saw an abnormal reset, expected a dump, found one written,
   * and every creation-error bit seen (OR); null when no run reports it (no EFI firmware).
   */
  nextBoot: { of: number; abnormalReset: number; expected: number; written: number; creationErrors: number } | null;
}

function metric(values: (number | null)[]): MetricSummary | null {
  const v = values.filter((x): x is number => x !== null).sort((a, b) => a - b);
  return v.length ? { median: median(v), max: v[v.length - 1] } : null;
}

export function summarizeDistribution(values: number[]): DistributionSummary | null {
  if (values.length === 0) return null;
  const v = [...values].sort((a, b) => a - b);
  return {
    count: v.length,
    min: v[0],
    q1: percentile(v, 0.25),
    median: median(v),
    q3: percentile(v, 0.75),
    p95: percentile(v, 0.95),
    max: v[v.length - 1],
    values: v,
  };
}

/** Aggregates the results of one cell; `results` may come in any order. */
export function summarizeCell(design: string, scenario: string, results: JobResult[], rule: CellRule = DEFAULT_RULE): CellSummary {
  const rs = [...results].sort((a, b) => a.seed - b.seed);
  const outcomes = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>;
  for (const r of rs) outcomes[r.outcome]++;
  const n = rs.length;
  const isSuccess = (o: Outcome) => rule.success.includes(o);
  const isExpected = (o: Outcome) => rule.expected?.outcomes.includes(o) ?? false;
  const ok = rs.filter((r) => isSuccess(r.outcome)).length;
  const expectedCount = rs.filter((r) => isExpected(r.outcome)).length;
  const loss = rs.find((r) => !isSuccess(r.outcome) && !isExpected(r.outcome));
  const [lo, hi] = wilsonInterval(ok, n);
  const fid = rs.map((r) => r.fidelity).filter((x): x is number => x !== null);
  const cons = rs.map((r) => r.consoleSeen).filter((x): x is boolean => x !== null);
  const modelled = rs.map((r) => r.firmwareModelled).filter((x): x is boolean => x !== null);
  return {
    design,
    scenario,
    runs: n,
    outcomes,
    successOutcomes: [...rule.success],
    expected: rule.expected ? { outcomes: [...rule.expected.outcomes], why: rule.expected.why, count: expectedCount } : null,
    success: { count: ok, rate: n ? round6(ok / n) : 0, wilson95: [round6(lo), round6(hi)] },
    status: loss ? 'loss' : expectedCount ? 'expected' : 'pass',
    firstLoss: loss ? { seed: loss.seed, outcome: loss.outcome, reason: loss.reason } : null,
    fidelity: fid.length
      ? { count: fid.length, mean: round6(fid.reduce((a, b) => a + b, 0) / fid.length), min: round6(Math.min(...fid)) }
      : null,
    crashToDumpUs: summarizeDistribution(rs.map((r) => r.crashToDumpUs).filter((x): x is number => x !== null)),
    nvramBytesWritten: metric(rs.map((r) => r.nvramBytesWritten)),
    consoleSeen: cons.length ? { seen: cons.filter(Boolean).length, of: cons.length } : null,
    firmwarePagesChanged: metric(rs.map((r) => r.firmwarePagesChanged)),
    pagesDeclaredLost: metric(rs.map((r) => r.pagesDeclaredLost)),
    ramWithheldBytes: metric(rs.map((r) => r.ramWithheldBytes)),
    firmwareModelled: modelled.length ? modelled.some(Boolean) : null,
    nextBoot: nextBootSummary(rs),
  };
}

function nextBootSummary(rs: JobResult[]): CellSummary['nextBoot'] {
  const recs = rs.map((r) => r.nextBoot).filter((x): x is NonNullable<JobResult['nextBoot']> => x != null);
  if (!recs.length) return null;
  return {
    of: recs.length,
    abnormalReset: recs.filter((r) => r.abnormalReset).length,
    expected: recs.filter((r) => r.expected).length,
    written: recs.filter((r) => r.written).length,
    creationErrors: recs.reduce((m, r) => m | r.creationErrors, 0),
  };
}

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Every cell of the matrix, sorted by design then scenario (code-unit order, not locale). */
export function aggregate(
  results: Iterable<JobResult>,
  ruleOf: (design: string, scenario: string) => CellRule = () => DEFAULT_RULE,
): CellSummary[] {
  const cells = new Map<string, JobResult[]>();
  for (const r of results) {
    const k = `${r.design}\u0000${r.scenario}`;
    const list = cells.get(k);
    if (list) list.push(r);
    else cells.set(k, [r]);
  }
  return [...cells.keys()].sort(byText).map((k) => {
    const [design, scenario] = k.split('\u0000');
    return summarizeCell(design, scenario, cells.get(k)!, ruleOf(design, scenario));
  });
}

/** Outcomes that are a dump on disk. */
const DUMP_OUTCOMES: readonly Outcome[] = ['dump-complete', 'dump-partial'];

/** One design's verdict: the scenarios it loses (one line each, with why), the failures expected of it, and whether it reaches a dump on measured firmware. */
export interface DesignVerdict {
  design: string;
  /** Scenarios with an unexpected failure: the counts and the first failing run's reason. */
  losses: { scenario: string; failed: number; runs: number; outcome: Outcome; reason: string }[];
  /** Scenarios where every failure was expected, with the scenario's reason. */
  expected: { scenario: string; count: number; runs: number; why: string }[];
  /** Scenarios it passed in every run. */
  passed: number;
  /**
   * Whether the design reaches a dump (dump-complete or dump-partial) in some scenario that asks for
   * one, on firmware whose retention was measured: `yes`/`no`; `modelled` when its runs used a
   * modelled retention profile; `unreported` when its runs did not say (no firmwareModelled metric).
   */
  dumpOnMeasuredFirmware: 'yes' | 'no' | 'modelled' | 'unreported';
  firmwareModelled: boolean | null;
  firmwarePagesChanged: MetricSummary | null;
  pagesDeclaredLost: MetricSummary | null;
  ramWithheldBytes: MetricSummary | null;
}

function mergeMetric(cells: CellSummary[], pick: (c: CellSummary) => MetricSummary | null): MetricSummary | null {
  const ms = cells.map(pick).filter((m): m is MetricSummary => m !== null);
  if (!ms.length) return null;
  return { median: median(ms.map((m) => m.median).sort((a, b) => a - b)), max: Math.max(...ms.map((m) => m.max)) };
}

/** The verdict of each design, from its cells (sorted by design). */
export function designVerdicts(cells: CellSummary[]): DesignVerdict[] {
  const designs = [...new Set(cells.map((c) => c.design))].sort(byText);
  return designs.map((design) => {
    const own = cells.filter((c) => c.design === design);
    const modelled = own.map((c) => c.firmwareModelled).filter((x): x is boolean => x !== null);
    const firmwareModelled = modelled.length ? modelled.some(Boolean) : null;
    const wantsDump = own.filter((c) => c.successOutcomes.some((o) => DUMP_OUTCOMES.includes(o)));
    const dumped = wantsDump.some((c) => DUMP_OUTCOMES.some((o) => c.outcomes[o] > 0));
    const dumpOnMeasuredFirmware = firmwareModelled === null ? 'unreported' : firmwareModelled ? 'modelled' : dumped ? 'yes' : 'no';
    return {
      design,
      losses: own
        .filter((c) => c.status === 'loss')
        .map((c) => ({
          scenario: c.scenario,
          failed: c.runs - c.success.count - (c.expected?.count ?? 0),
          runs: c.runs,
          outcome: c.firstLoss!.outcome,
          reason: c.firstLoss!.reason,
        })),
      expected: own
        .filter((c) => c.status === 'expected')
        .map((c) => ({ scenario: c.scenario, count: c.expected!.count, runs: c.runs, why: c.expected!.why })),
      passed: own.filter((c) => c.status === 'pass').length,
      dumpOnMeasuredFirmware,
      firmwareModelled,
      firmwarePagesChanged: mergeMetric(own, (c) => c.firmwarePagesChanged),
      pagesDeclaredLost: mergeMetric(own, (c) => c.pagesDeclaredLost),
      ramWithheldBytes: mergeMetric(own, (c) => c.ramWithheldBytes),
    };
  });
}
