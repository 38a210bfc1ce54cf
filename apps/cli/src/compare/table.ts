import { formatDuration, formatSize } from '@efikdump/core';
import { creationErrorNames } from '@efikdump/firmware-uefi';
import type { CellStatus, CellSummary } from './aggregate';
import type { CompareReport } from './sweep';
import { hasFirmwareMetrics, measuredSummary, verdictLines, verdictRows } from './verdict';

const pct = (x: number) => `${(100 * x).toFixed(0)} %`;

/** What the verdict column says for each cell status. */
export const STATUS_LABEL: Record<CellStatus, string> = { pass: 'pass', expected: 'expected', loss: 'LOSS' };

/** The columns every table shows, one row per cell; the firmware columns only when the runs carry those metrics. */
export function tableRows(report: CompareReport): { header: string[]; rows: string[][]; rates: number[]; statuses: CellStatus[] } {
  const fw = hasFirmwareMetrics(report);
  const nb = report.cells.some((c) => c.nextBoot);
  const header = [
    'design',
    'scenario',
    'runs',
    'complete',
    'success (95 % CI)',
    'verdict',
    'crash→dump median',
    'p95',
    'fidelity',
    'NVRAM bytes',
    'console',
    ...(fw ? ['fw pages changed', 'pages declared lost', 'RAM withheld'] : []),
    ...(nb ? ['next boot learns'] : []),
    'other outcomes',
  ];
  const rows = report.cells.map((c: CellSummary) => {
    const other = Object.entries(c.outcomes)
      .filter(([o, n]) => o !== 'dump-complete' && n > 0)
      .map(([o, n]) => `${o} ${n}`)
      .join(', ');
    const modelled = c.firmwareModelled ? ' (modelled)' : '';
    return [
      c.design,
      c.scenario,
      String(c.runs),
      String(c.outcomes['dump-complete']),
      `${pct(c.success.rate)} (${pct(c.success.wilson95[0])}–${pct(c.success.wilson95[1])})`,
      `${STATUS_LABEL[c.status]}${modelled}`,
      c.crashToDumpUs ? formatDuration(c.crashToDumpUs.median) : '—',
      c.crashToDumpUs ? formatDuration(c.crashToDumpUs.p95) : '—',
      c.fidelity ? c.fidelity.mean.toFixed(4) : '—',
      c.nvramBytesWritten ? String(c.nvramBytesWritten.median) : '—',
      c.consoleSeen ? `${c.consoleSeen.seen}/${c.consoleSeen.of}` : '—',
      ...(fw
        ? [
            c.firmwarePagesChanged ? `${c.firmwarePagesChanged.median}${modelled}` : '—',
            c.pagesDeclaredLost ? `${c.pagesDeclaredLost.median}${modelled}` : '—',
            c.ramWithheldBytes ? formatSize(c.ramWithheldBytes.median) : '—',
          ]
        : []),
      ...(nb ? [nextBootText(c)] : []),
      other || '—',
    ];
  });
  return { header, rows, rates: report.cells.map((c) => c.success.rate), statuses: report.cells.map((c) => c.status) };
}

/** The firmware → OS record as the next boot reads it: crashed (abnormal reset), dump expected, dump written, creation errors. */
export function nextBootText(c: CellSummary): string {
  const n = c.nextBoot;
  if (!n) return '—';
  const errors = n.creationErrors ? `; errors ${creationErrorNames(n.creationErrors).join(', ')}` : '';
  return `crash ${n.abnormalReset}/${n.of}, dump expected ${n.expected}, written ${n.written}${errors}`;
}

/** ANSI colour of a cell: green when it passes, cyan when every failure was expected, else yellow or red by the success rate. */
function ansiOf(status: CellStatus, rate: number): number {
  if (status === 'pass') return 32;
  if (status === 'expected') return 36;
  return rate >= 0.5 ? 33 : 31;
}

function plainTable(header: string[], rows: string[][], paint?: (row: number, col: number, text: string) => string): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  ')];
  rows.forEach((r, k) =>
    out.push(
      paint
        ? r
            .map((c, i) => paint(k, i, c.padEnd(widths[i])))
            .join('  ')
            .trimEnd()
        : line(r),
    ),
  );
  return out;
}

/** A plain-text verdict and table; with `colour`, the success and verdict columns are coloured by the cell's status. */
export function terminalTable(report: CompareReport, colour: boolean): string {
  const { header, rows, rates, statuses } = tableRows(report);
  const v = verdictRows(report);
  const out = ['verdict', ...plainTable(v.header, v.rows), ...measuredSummary(report), ''];
  const paint = colour
    ? (k: number, i: number, text: string) => (i === 4 || i === 5 ? `\x1b[${ansiOf(statuses[k], rates[k])}m${text}\x1b[0m` : text)
    : undefined;
  out.push(...plainTable(header, rows, paint));
  return out.join('\n');
}

/** The report in Markdown: the verdict first, then the table, then the representative runs. */
export function markdownReport(report: CompareReport): string {
  const { header, rows } = tableRows(report);
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const numeric = new Set([
    'runs',
    'complete',
    'crash→dump median',
    'p95',
    'fidelity',
    'NVRAM bytes',
    'console',
    'fw pages changed',
    'pages declared lost',
    'RAM withheld',
    'passes',
  ]);
  const mdTable = (h: string[], rs: string[][]) => [
    `| ${h.map(esc).join(' | ')} |`,
    `|${h.map((x) => (numeric.has(x) ? ' ---: ' : ' --- ')).join('|')}|`,
    ...rs.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ];
  const m = report.matrix;
  const v = verdictRows(report);
  return [
    `# efikdump compare`,
    '',
    `${m.designs.length} designs × ${m.scenarios.length} scenarios × ${m.runs} runs (seeds ${m.seeds[0]}–${m.seeds[1]}). ` +
      'Each scenario says which outcomes are success (default `dump-complete` or `dump-partial`, a dump whose every difference from the truth is declared) ' +
      'and which failures it expects of some designs; the interval is the Wilson 95 % score interval of the success rate; crash→dump is virtual time from the panic to the end of the dump write / verification.',
    '',
    '## Verdict',
    '',
    ...measuredSummary(report),
    '',
    ...mdTable(v.header, v.rows),
    '',
    ...report.verdict.flatMap((d) => [`### ${d.design}`, '', ...verdictLines(d).map((l) => `- ${esc(l.text)}`), '']),
    '## Every cell',
    '',
    ...mdTable(header, rows),
    '',
    '## Representative runs',
    '',
    ...report.representatives.map(
      (r) =>
        `- **${r.design}**: scenario ${r.scenario}, seed ${r.seed}, ${r.outcome}; retention: ${r.retention.map((x) => `${x.policy} ${x.changedPages} pages`).join(', ') || 'none'}`,
    ),
    '',
  ].join('\n');
}
