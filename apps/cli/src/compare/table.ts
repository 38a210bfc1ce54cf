import { formatDuration } from '@efikdump/core';
import type { CellSummary } from './aggregate';
import type { CompareReport } from './sweep';

const pct = (x: number) => `${(100 * x).toFixed(0)} %`;

/** The columns every table shows, one row per cell. */
export function tableRows(report: CompareReport): { header: string[]; rows: string[][]; rates: number[] } {
  const header = ['design', 'scenario', 'runs', 'complete', 'success (95 % CI)', 'crash→dump median', 'p95', 'fidelity', 'NVRAM bytes', 'console', 'other outcomes'];
  const rows = report.cells.map((c: CellSummary) => {
    const other = Object.entries(c.outcomes).filter(([o, n]) => o !== 'dump-complete' && n > 0).map(([o, n]) => `${o} ${n}`).join(', ');
    return [
      c.design,
      c.scenario,
      String(c.runs),
      String(c.success.count),
      `${pct(c.success.rate)} (${pct(c.success.wilson95[0])}–${pct(c.success.wilson95[1])})`,
      c.crashToDumpUs ? formatDuration(c.crashToDumpUs.median) : '—',
      c.crashToDumpUs ? formatDuration(c.crashToDumpUs.p95) : '—',
      c.fidelity ? c.fidelity.mean.toFixed(4) : '—',
      c.nvramBytesWritten ? String(c.nvramBytesWritten.median) : '—',
      c.consoleSeen ? `${c.consoleSeen.seen}/${c.consoleSeen.of}` : '—',
      other || '—',
    ];
  });
  return { header, rows, rates: report.cells.map((c) => c.success.rate) };
}

/** A plain-text table; with `colour`, the success column is green, yellow or red. */
export function terminalTable(report: CompareReport, colour: boolean): string {
  const { header, rows, rates } = tableRows(report);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  ')];
  rows.forEach((r, k) => {
    let text = line(r);
    if (colour) {
      const code = rates[k] >= 0.95 ? 32 : rates[k] >= 0.5 ? 33 : 31;
      const cells = r.map((c, i) => c.padEnd(widths[i]));
      cells[4] = `\x1b[${code}m${cells[4]}\x1b[0m`;
      text = cells.join('  ').trimEnd();
    }
    out.push(text);
  });
  return out.join('\n');
}

/** The same table in Markdown, with a heading that names the matrix. */
export function markdownReport(report: CompareReport): string {
  const { header, rows } = tableRows(report);
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const m = report.matrix;
  return [
    `# efikdump compare`,
    '',
    `${m.designs.length} designs × ${m.scenarios.length} scenarios × ${m.runs} runs (seeds ${m.seeds[0]}–${m.seeds[1]}). ` +
      'Success is `dump-complete`; the interval is the Wilson 95 % score interval; crash→dump is virtual time from the panic to the end of the dump write / verification.',
    '',
    `| ${header.map(esc).join(' | ')} |`,
    `|${header.map((_, i) => (i >= 2 && i <= 9 ? ' ---: ' : ' --- ')).join('|')}|`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
    '',
    '## Representative runs',
    '',
    ...report.representatives.map((r) => `- **${r.design}**: scenario ${r.scenario}, seed ${r.seed}, ${r.outcome}; retention: ${r.retention.map((x) => `${x.policy} ${x.changedPages} pages`).join(', ') || 'none'}`),
    '',
  ].join('\n');
}
