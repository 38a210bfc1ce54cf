import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { htmlReport } from './html';
import { REPORT_SCHEMA } from './schema';
import { stableStringify } from './stats';
import type { CompareReport, SweepTiming } from './sweep';
import { markdownReport, tableRows } from './table';

export const REPORT_FILES = ['report.json', 'report.schema.json', 'report.md', 'report.html', 'timing.json'] as const;

function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/** Writes every report file into `dir`; report.json is the deterministic document, timing.json the wall clock. */
export function writeReport(reportDir: string, report: CompareReport, timing: SweepTiming): Record<(typeof REPORT_FILES)[number], string> {
  const dir = resolve(reportDir);
  mkdirSync(dir, { recursive: true });
  const { header, rows } = tableRows(report);
  const files = {
    'report.json': stableStringify(report),
    'report.schema.json': stableStringify(REPORT_SCHEMA),
    'report.md': markdownReport(report),
    'report.html': htmlReport(report, header, rows),
    'timing.json': stableStringify({ format: 'efikdump-compare-timing/1', ...timing }),
  };
  for (const [name, text] of Object.entries(files)) writeAtomic(join(dir, name), text);
  return Object.fromEntries(Object.keys(files).map((n) => [n, join(dir, n)])) as Record<(typeof REPORT_FILES)[number], string>;
}
