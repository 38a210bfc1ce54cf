import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, createRun, readJsonFile, writeFileAtomic, type RunResult } from '@efikdump/core';
import { createContainer } from '../container';
import { loadDesign, loadScenario } from '../library';
import { readFootprint, type LabFootprint } from './footprint';
import { LAB_RESULT_FORMAT, type LabResult } from './lab-run';
import { PAGE_BYTES } from './pattern';

export const LAB_COMPARE_FORMAT = 'efikdump-lab-compare/1';

/** One compared quantity: what the simulator predicted, what the real run measured, and how they relate. */
export interface CompareRow {
  what: string;
  simulated: string | number;
  real: string | number;
  /** "agree", "differ", or a figure such as "+12 %"; "n/a" when the two are not the same kind of time. */
  agreement: string;
}

export interface LabComparison {
  format: typeof LAB_COMPARE_FORMAT;
  realRun: string;
  simulatedDesign: string;
  memoryBytes: number;
  seed: number;
  rows: CompareRow[];
  /** Pages of the real footprint that the simulator's firmware also changed, and those it did not predict. */
  footprintOverlap?: { realPages: number; simulatedPages: number; bothPages: number; missedPages: number; extraPages: number };
}

/** Reads a real run's result.json (a lab output folder or the file itself). */
export function readLabResult(path: string): { result: LabResult; dir: string } {
  const file = path.endsWith('.json') ? path : join(path, 'result.json');
  if (!existsSync(file)) throw new ConfigError('no result.json: give the output folder of efikdump lab run', { file });
  const doc = readJsonFile(file) as Partial<LabResult>;
  if (doc?.format !== LAB_RESULT_FORMAT) throw new ConfigError(`expected "${LAB_RESULT_FORMAT}"`, { file, field: 'format' });
  if (!Number.isSafeInteger(doc.memoryBytes)) throw new ConfigError('expected a byte count', { file, field: 'memoryBytes' });
  return { result: doc as LabResult, dir: file.slice(0, file.length - 'result.json'.length) || '.' };
}

/** Pages in the union of half-open ranges. */
function pageSet(ranges: readonly [number, number][]): Set<number> {
  const s = new Set<number>();
  for (const [a, b] of ranges) for (let p = Math.floor(a / PAGE_BYTES); p < Math.ceil(b / PAGE_BYTES); p++) s.add(p);
  return s;
}

const pct = (sim: number, real: number) =>
  real === 0 ? (sim === 0 ? 'agree' : 'differ') : `${sim >= real ? '+' : ''}${Math.round(((sim - real) / real) * 100)} %`;

/**
 * Runs the simulator on the real run's machine (design, RAM, one CPU, scenario healthy) and puts
 * its prediction beside what the real run measured: outcome, pages lost and where, firmware
 * footprint, POST and crash-to-dump times. Simulated times are virtual; the real ones are wall
 * clock under QEMU TCG, so their ratio says how far the model is from this emulator, not from metal.
 */
export async function compareWithSimulator(resultPath: string, simulatedDesign?: string, seed = 7): Promise<LabComparison> {
  const { result: real, dir } = readLabResult(resultPath);
  const design = loadDesign(simulatedDesign ?? real.design);
  const footprintFile = join(dir, 'footprint.json');
  const footprint: LabFootprint | undefined = existsSync(footprintFile) ? readFootprint(footprintFile) : undefined;
  const run = createRun(createContainer(), {
    design,
    scenario: loadScenario('healthy'),
    seed,
    ramBytes: real.memoryBytes,
    cpus: 1,
    options: {},
  });
  const sim: RunResult = await run.start();
  const m = sim.metrics;

  const realLost = real.lostRanges.map((r) => [Number(r.start), Number(r.end)] as [number, number]);
  const realLostPages = realLost.reduce((n, [a, b]) => n + (b - a) / PAGE_BYTES, 0);
  const simLostPages = Number(m.pagesLost ?? 0);
  const simChanged = (sim.firmware?.retention ?? []).flatMap((r) => r.changedRanges as [number, number][]);
  const rows: CompareRow[] = [
    { what: 'outcome', simulated: sim.outcome, real: real.outcome, agreement: sim.outcome === real.outcome ? 'agree' : 'differ' },
    { what: 'old-memory pages lost (declared)', simulated: simLostPages, real: realLostPages, agreement: pct(simLostPages, realLostPages) },
  ];
  if (real.pattern) {
    const simFidelity = Number(m.fidelity ?? NaN);
    const realFidelity = real.pattern.intact / real.pattern.pages;
    rows.push({
      what: 'sampled pages intact',
      simulated: Number.isFinite(simFidelity) ? simFidelity.toFixed(4) : '-',
      real: realFidelity.toFixed(4),
      agreement: Number.isFinite(simFidelity) ? pct(simFidelity, realFidelity) : 'n/a',
    });
  }
  let footprintOverlap: LabComparison['footprintOverlap'];
  if (footprint) {
    const realPages = pageSet(footprint.overwritten.map((r) => [Number(r.start), Number(r.end)]));
    const simPages = pageSet(simChanged);
    let both = 0;
    for (const p of realPages) if (simPages.has(p)) both++;
    footprintOverlap = {
      realPages: realPages.size,
      simulatedPages: simPages.size,
      bothPages: both,
      missedPages: realPages.size - both,
      extraPages: simPages.size - both,
    };
    rows.push({
      what: 'pages the firmware changed (reset → loader)',
      simulated: simPages.size,
      real: realPages.size,
      agreement: pct(simPages.size, realPages.size),
    });
    rows.push({
      what: '… of the real ones, predicted where they are',
      simulated: both,
      real: realPages.size,
      agreement: pct(both, realPages.size),
    });
  }
  const simPostMs = Number(m.postUs ?? NaN) / 1000;
  if (real.durations.resetToLoaderMs !== undefined && Number.isFinite(simPostMs)) {
    rows.push({
      what: 'POST, reset to loader (ms; real = TCG wall clock)',
      simulated: Math.round(simPostMs),
      real: real.durations.resetToLoaderMs,
      agreement: 'n/a',
    });
  }
  const simCrashToDumpMs = Number(m.crashToDumpUs ?? NaN) / 1000;
  if (real.durations.panicToDumpMs !== undefined && Number.isFinite(simCrashToDumpMs)) {
    rows.push({
      what: 'crash to dump written (ms; real = TCG wall clock)',
      simulated: Math.round(simCrashToDumpMs),
      real: real.durations.panicToDumpMs,
      agreement: 'n/a',
    });
  }
  const comparison: LabComparison = {
    format: LAB_COMPARE_FORMAT,
    realRun: dir,
    simulatedDesign: design.name,
    memoryBytes: real.memoryBytes,
    seed,
    rows,
    ...(footprintOverlap ? { footprintOverlap } : {}),
  };
  writeFileAtomic(join(dir, 'compare.json'), JSON.stringify(comparison, null, 2) + '\n');
  return comparison;
}
