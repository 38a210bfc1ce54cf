import { formatSize } from '@efikdump/core';
import type { DesignVerdict } from './aggregate';
import type { CompareReport } from './sweep';

/** A run's reason, cut for one line. */
export const oneLine = (s: string, max = 180): string => {
  const flat = s.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};

const MEASURED_LABEL: Record<DesignVerdict['dumpOnMeasuredFirmware'], string> = {
  yes: 'yes',
  no: 'no',
  modelled: 'modelled firmware',
  unreported: 'not reported',
};

/** Whether any design's runs carry the firmware metrics (helper columns are shown only then). */
export function hasFirmwareMetrics(report: CompareReport): boolean {
  return report.verdict.some((v) => v.firmwareModelled !== null || v.firmwarePagesChanged || v.pagesDeclaredLost || v.ramWithheldBytes);
}

/** "modelled" beside a figure that depends on a firmware profile whose retention is modelled. */
const mark = (modelled: boolean | null) => (modelled ? ' (modelled)' : '');

/** The per-design summary columns: header and one row per design. */
export function verdictRows(report: CompareReport): { header: string[]; rows: string[][] } {
  const fw = hasFirmwareMetrics(report);
  const header = [
    'design',
    'passes',
    'loses',
    'expected',
    'dump on measured firmware',
    ...(fw ? ['firmware pages changed (max)', 'pages declared lost (max)', 'RAM withheld (median)'] : []),
  ];
  const rows = report.verdict.map((v) => [
    v.design,
    String(v.passed),
    v.losses.length ? v.losses.map((l) => l.scenario).join(', ') : '—',
    v.expected.length ? v.expected.map((e) => e.scenario).join(', ') : '—',
    MEASURED_LABEL[v.dumpOnMeasuredFirmware],
    ...(fw
      ? [
          v.firmwarePagesChanged ? `${v.firmwarePagesChanged.max}${mark(v.firmwareModelled)}` : '—',
          v.pagesDeclaredLost ? `${v.pagesDeclaredLost.max}${mark(v.firmwareModelled)}` : '—',
          v.ramWithheldBytes ? formatSize(v.ramWithheldBytes.median) : '—',
        ]
      : []),
  ]);
  return { header, rows };
}

/** One line per lost scenario and per expected failure of a design. */
export function verdictLines(v: DesignVerdict): { kind: 'loss' | 'expected' | 'pass'; text: string }[] {
  const lines: { kind: 'loss' | 'expected' | 'pass'; text: string }[] = [];
  for (const l of v.losses)
    lines.push({
      kind: 'loss',
      text: `loses ${l.scenario}: ${l.failed}/${l.runs} runs not a success, first ${l.outcome}: ${oneLine(l.reason)}`,
    });
  for (const e of v.expected)
    lines.push({ kind: 'expected', text: `expected in ${e.scenario} (${e.count}/${e.runs} runs): ${oneLine(e.why)}` });
  if (!lines.length) lines.push({ kind: 'pass', text: `passes all ${v.passed} scenarios` });
  return lines;
}

/** Which designs reach a dump on measured firmware, in one sentence per answer. */
export function measuredSummary(report: CompareReport): string[] {
  const by = (k: DesignVerdict['dumpOnMeasuredFirmware']) =>
    report.verdict.filter((v) => v.dumpOnMeasuredFirmware === k).map((v) => v.design);
  const out: string[] = [];
  const yes = by('yes'),
    no = by('no'),
    modelled = by('modelled'),
    unreported = by('unreported');
  if (yes.length) out.push(`Reach a dump on measured firmware: ${yes.join(', ')}.`);
  if (no.length) out.push(`No dump on measured firmware: ${no.join(', ')}.`);
  if (modelled.length) out.push(`On modelled firmware retention only (not measured): ${modelled.join(', ')}.`);
  if (unreported.length) out.push(`Firmware retention not reported by the runs (no firmwareModelled metric): ${unreported.join(', ')}.`);
  return out;
}
