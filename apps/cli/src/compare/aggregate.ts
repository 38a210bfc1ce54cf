import { OUTCOMES, type Outcome } from '@efikdump/core';
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

/** One (design, scenario) cell of the sweep. */
export interface CellSummary {
  design: string;
  scenario: string;
  runs: number;
  outcomes: Record<Outcome, number>;
  success: { count: number; rate: number; wilson95: [number, number] };
  fidelity: { count: number; mean: number; min: number } | null;
  crashToDumpUs: DistributionSummary | null;
  nvramBytesWritten: { median: number; max: number } | null;
  consoleSeen: { seen: number; of: number } | null;
}

export function summarizeDistribution(values: number[]): DistributionSummary | null {
  if (values.length === 0) return null;
  const v = [...values].sort((a, b) => a - b);
  return { count: v.length, min: v[0], q1: percentile(v, 0.25), median: median(v), q3: percentile(v, 0.75), p95: percentile(v, 0.95), max: v[v.length - 1], values: v };
}

/** Aggregates the results of one cell; `results` may come in any order. */
export function summarizeCell(design: string, scenario: string, results: JobResult[]): CellSummary {
  const rs = [...results].sort((a, b) => a.seed - b.seed);
  const outcomes = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>;
  for (const r of rs) outcomes[r.outcome]++;
  const n = rs.length;
  const ok = outcomes['dump-complete'];
  const [lo, hi] = wilsonInterval(ok, n);
  const fid = rs.map((r) => r.fidelity).filter((x): x is number => x !== null);
  const nv = rs.map((r) => r.nvramBytesWritten).filter((x): x is number => x !== null).sort((a, b) => a - b);
  const cons = rs.map((r) => r.consoleSeen).filter((x): x is boolean => x !== null);
  return {
    design,
    scenario,
    runs: n,
    outcomes,
    success: { count: ok, rate: n ? round6(ok / n) : 0, wilson95: [round6(lo), round6(hi)] },
    fidelity: fid.length ? { count: fid.length, mean: round6(fid.reduce((a, b) => a + b, 0) / fid.length), min: round6(Math.min(...fid)) } : null,
    crashToDumpUs: summarizeDistribution(rs.map((r) => r.crashToDumpUs).filter((x): x is number => x !== null)),
    nvramBytesWritten: nv.length ? { median: median(nv), max: nv[nv.length - 1] } : null,
    consoleSeen: cons.length ? { seen: cons.filter(Boolean).length, of: cons.length } : null,
  };
}

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Every cell of the matrix, sorted by design then scenario (code-unit order, not locale). */
export function aggregate(results: Iterable<JobResult>): CellSummary[] {
  const cells = new Map<string, JobResult[]>();
  for (const r of results) {
    const k = `${r.design}\u0000${r.scenario}`;
    const list = cells.get(k);
    if (list) list.push(r);
    else cells.set(k, [r]);
  }
  return [...cells.keys()].sort(byText).map((k) => {
    const [design, scenario] = k.split('\u0000');
    return summarizeCell(design, scenario, cells.get(k)!);
  });
}
