import { formatDuration, formatSize } from '@efikdump/core';
import type { CellSummary } from './aggregate';
import type { CompareReport } from './sweep';
import { measuredSummary, verdictLines, verdictRows } from './verdict';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const f1 = (x: number) => (Math.round(x * 10) / 10).toString();

/** Red (0) → amber → green (1). */
function rateColour(rate: number): string {
  const hue = Math.round(120 * rate);
  return `hsl(${hue}, 65%, ${rate >= 0.5 ? 42 : 50}%)`;
}

/** Slate: every failure in the cell was one the scenario expects of this design (no dump is possible). */
const EXPECTED_COLOUR = 'hsl(215, 16%, 52%)';

/** A cell's colour: its success rate, or slate when every failure was expected. */
const cellColour = (c: CellSummary) => (c.status === 'expected' ? EXPECTED_COLOUR : rateColour(c.success.rate));

const STAGE_COLOURS = [
  '#4e79a7',
  '#f28e2b',
  '#e15759',
  '#76b7b2',
  '#59a14f',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#9467bd',
];

function heatmap(r: CompareReport): string {
  const { designs, scenarios } = r.matrix;
  const left = 250,
    top = 150,
    cw = 96,
    ch = 40;
  const h = top + ch * designs.length + 20;
  const parts: string[] = [];
  scenarios.forEach((s, i) =>
    parts.push(
      `<text x="${left + cw * i + cw / 2}" y="${top - 8}" transform="rotate(-35 ${left + cw * i + cw / 2} ${top - 8})" class="lbl">${esc(s)}</text>`,
    ),
  );
  const w0 = left + cw * scenarios.length + 150;
  designs.forEach((d, j) => {
    parts.push(`<text x="${left - 8}" y="${top + ch * j + ch / 2 + 4}" text-anchor="end" class="lbl">${esc(d)}</text>`);
    scenarios.forEach((s, i) => {
      const c = r.cells.find((x) => x.design === d && x.scenario === s);
      if (!c) return;
      const counts = Object.entries(c.outcomes)
        .filter(([, n]) => n > 0)
        .map(([o, n]) => `${o}: ${n}`)
        .join('\n');
      const expected = c.expected ? `\nexpected of this design: ${c.expected.outcomes.join(', ')} (${c.expected.why})` : '';
      const modelled = c.firmwareModelled ? "\nmodelled: the firmware profile's retention is modelled, not measured" : '';
      const tip = `${d} × ${s}${modelled}\nsuccess = ${c.successOutcomes.join(' or ')}: ${(100 * c.success.rate).toFixed(1)} % (95 % CI ${(100 * c.success.wilson95[0]).toFixed(1)}–${(100 * c.success.wilson95[1]).toFixed(1)} %)${expected}\n${counts}`;
      const x = left + cw * i,
        y = top + ch * j;
      const label = c.status === 'expected' ? 'expected' : `${c.success.count}/${c.runs}`;
      parts.push(
        `<g class="cell" data-status="${c.status}"><title>${esc(tip)}</title><rect x="${x + 1}" y="${y + 1}" width="${cw - 2}" height="${ch - 2}" rx="3" fill="${cellColour(c)}"/>` +
          `<text x="${x + cw / 2}" y="${y + ch / 2 + 5}" text-anchor="middle" class="val">${label}</text></g>`,
      );
    });
  });
  return `<svg data-chart="heatmap" viewBox="0 0 ${w0} ${h}" width="${w0}" height="${h}" role="img" aria-label="outcome heatmap">${parts.join('')}</svg>`;
}

/** Tick values for a log axis from lo to hi: every 1–9 × 10^k in range, thinned to 1, 2, 5 and then to 1 × 10^k while more than ~10. */
function logTicks(lo: number, hi: number): number[] {
  const all: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (let m = 1; m <= 9; m++) {
      const t = m * 10 ** e;
      if (t >= lo && t <= hi) all.push(t);
    }
  }
  // A range narrower than the step from one 1–9 × 10^k to the next: five ticks evenly spaced on the log scale.
  if (all.length < 3) return Array.from({ length: 5 }, (_, i) => lo * (hi / lo) ** ((i + 0.5) / 5));
  const lead = (t: number) => Number(t.toExponential(0).charAt(0));
  for (const keep of [[1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 5], [1]]) {
    const ticks = all.filter((t) => keep.includes(lead(t)));
    if (ticks.length <= 10 || keep.length === 1) return ticks;
  }
  return all;
}

function distributions(r: CompareReport): string {
  const cells = r.cells;
  const all = cells.flatMap((c) => c.crashToDumpUs?.values ?? []).filter((v) => v > 0);
  // A log axis: one scenario (a 1 TiB machine) takes ~200× longer than the rest, and every run spends seconds in POST and boot.
  const loUs = all.length ? Math.min(...all) / 1.25 : 1,
    hiUs = all.length ? Math.max(...all) * 1.25 : 10;
  const span = Math.max(Math.log10(hiUs) - Math.log10(loUs), 0.1);
  const left = 420,
    width = 560,
    rowH = 26,
    top = 20;
  const h = top + rowH * cells.length + 40,
    w = left + width + 30;
  const x = (us: number) => left + ((Math.log10(Math.max(us, loUs)) - Math.log10(loUs)) / span) * width;
  const parts: string[] = [];
  for (const us of logTicks(loUs, hiUs)) {
    parts.push(
      `<line x1="${f1(x(us))}" x2="${f1(x(us))}" y1="${top - 5}" y2="${h - 30}" class="grid"/><text x="${f1(x(us))}" y="${h - 14}" text-anchor="middle" class="tick">${esc(formatDuration(Math.round(us)))}</text>`,
    );
  }
  cells.forEach((c, k) => {
    const y = top + rowH * k + rowH / 2;
    parts.push(`<text x="${left - 8}" y="${y + 4}" text-anchor="end" class="lbl">${esc(c.design)} · ${esc(c.scenario)}</text>`);
    const d = c.crashToDumpUs;
    if (!d) {
      parts.push(`<text x="${left + 4}" y="${y + 4}" class="none">no dump in ${c.runs} runs</text>`);
      return;
    }
    const g = [
      `<title>${esc(`${c.design} × ${c.scenario}: median ${formatDuration(d.median)}, p95 ${formatDuration(d.p95)}, ${d.count} dumps`)}</title>`,
    ];
    g.push(`<line x1="${f1(x(d.min))}" x2="${f1(x(d.max))}" y1="${y}" y2="${y}" class="whisker"/>`);
    g.push(`<rect x="${f1(x(d.q1))}" y="${y - 8}" width="${f1(Math.max(1, x(d.q3) - x(d.q1)))}" height="16" class="box"/>`);
    g.push(`<line x1="${f1(x(d.median))}" x2="${f1(x(d.median))}" y1="${y - 9}" y2="${y + 9}" class="median"/>`);
    d.values.forEach((v, i) => g.push(`<circle cx="${f1(x(v))}" cy="${f1(y + ((i % 5) - 2) * 2)}" r="2.2" class="dot"/>`));
    parts.push(`<g class="dist">${g.join('')}</g>`);
  });
  return `<svg data-chart="distributions" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" role="img" aria-label="crash-to-dump time distributions">${parts.join('')}</svg>`;
}

function gantt(r: CompareReport): string {
  const stageNames = [...new Set(r.representatives.flatMap((x) => x.stages.map((s) => s.stage)))];
  const colour = (s: string) => STAGE_COLOURS[stageNames.indexOf(s) % STAGE_COLOURS.length];
  const maxUs = Math.max(1, ...r.representatives.flatMap((x) => x.stages.map((s) => s.endUs)));
  const left = 260,
    width = 720,
    rowH = 16,
    top = 20;
  const parts: string[] = [];
  let y = top;
  const x = (us: number) => left + (us / maxUs) * width;
  for (const rep of r.representatives) {
    parts.push(
      `<text x="8" y="${y + 12}" class="head">${esc(rep.design)}</text><text x="${left}" y="${y + 12}" class="sub">${esc(`${rep.scenario}, seed ${rep.seed}: ${rep.outcome}`)}</text>`,
    );
    y += rowH + 4;
    for (const s of rep.stages) {
      const bw = Math.max(1.5, x(s.endUs) - x(s.startUs));
      parts.push(
        `<g class="bar"><title>${esc(`${s.stage}: ${formatDuration(s.startUs)} → ${formatDuration(s.endUs)} (${formatDuration(s.endUs - s.startUs)})`)}</title>` +
          `<text x="${left - 8}" y="${y + 11}" text-anchor="end" class="lbl">${esc(s.stage)}</text>` +
          `<rect x="${f1(x(s.startUs))}" y="${y + 2}" width="${f1(bw)}" height="${rowH - 4}" fill="${colour(s.stage)}"/></g>`,
      );
      y += rowH;
    }
    if (rep.panicUs !== null)
      parts.push(
        `<line x1="${f1(x(rep.panicUs))}" x2="${f1(x(rep.panicUs))}" y1="${y - rowH * rep.stages.length}" y2="${y}" class="panic"><title>panic</title></line>`,
      );
    y += 10;
  }
  for (let t = 0; t <= 5; t++)
    parts.push(
      `<text x="${f1(x((maxUs * t) / 5))}" y="${y + 12}" text-anchor="middle" class="tick">${esc(formatDuration(Math.round((maxUs * t) / 5)))}</text>`,
    );
  const h = y + 24,
    w = left + width + 40;
  return `<svg data-chart="timeline" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" role="img" aria-label="timeline of one run per design">${parts.join('')}</svg>`;
}

function retentionMap(r: CompareReport): string {
  const top = Math.max(
    1,
    ...r.representatives.flatMap((x) => [x.ramBytes, ...x.retention.flatMap((p) => p.changedRanges.map(([, e]) => e))]),
  );
  const left = 260,
    width = 720,
    rowH = 22;
  const x = (a: number) => left + (a / top) * width;
  const parts: string[] = [];
  let y = 10;
  for (const rep of r.representatives) {
    parts.push(`<text x="8" y="${y + 14}" class="head">${esc(rep.design)}</text>`);
    y += rowH;
    if (rep.retention.length === 0) {
      parts.push(`<text x="${left}" y="${y + 12}" class="none">no retention policy changed memory (or no warm reset)</text>`);
      y += rowH;
    }
    for (const p of rep.retention) {
      parts.push(
        `<text x="${left - 8}" y="${y + 14}" text-anchor="end" class="lbl">${esc(`${p.policy} (${p.reset}, boot ${p.boot})`)}</text>`,
      );
      const g = [
        `<title>${esc(`${p.policy}: ${p.changedPages} pages changed in ${p.changedRanges.length} ranges`)}</title>`,
        `<rect x="${left}" y="${y + 3}" width="${width}" height="${rowH - 6}" class="ram"/>`,
      ];
      for (const [s, e] of p.changedRanges)
        g.push(
          `<rect x="${f1(x(s))}" y="${y + 3}" width="${f1(Math.max(1, x(e) - x(s)))}" height="${rowH - 6}" class="changed"><title>${esc(`0x${s.toString(16)}–0x${e.toString(16)} (${formatSize(e - s)})`)}</title></rect>`,
        );
      parts.push(`<g class="policy">${g.join('')}</g>`);
      y += rowH;
    }
    y += 6;
  }
  for (let t = 0; t <= 8; t++) {
    const a = Math.round((top * t) / 8);
    parts.push(`<text x="${f1(x(a))}" y="${y + 12}" text-anchor="middle" class="tick">${esc(t === 0 ? '0' : formatSize(a))}</text>`);
  }
  const h = y + 24,
    w = left + width + 40;
  return `<svg data-chart="retention" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" role="img" aria-label="retention map">${parts.join('')}</svg>`;
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1100px;color:#1d2430;background:#fbfbfd;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde;padding-bottom:4px}
p.note{color:#556;margin:4px 0 10px}.chart{overflow-x:auto;background:#fff;border:1px solid #e3e5ea;border-radius:6px;padding:8px}
svg text{font:12px system-ui,sans-serif;fill:#222}svg .val{fill:#fff;font-weight:600;font-size:13px}svg .head{font-weight:600;font-size:13px}
svg .sub,svg .tick{fill:#667;font-size:11px}svg .none{fill:#999;font-style:italic}svg .grid{stroke:#eceef2}
svg .whisker{stroke:#6b7280;stroke-width:1.2}svg .box{fill:#c7d7ef;stroke:#4e79a7}svg .median{stroke:#1d3f73;stroke-width:2.5}
svg .dot{fill:#e15759;fill-opacity:.55}svg .panic{stroke:#d62728;stroke-dasharray:3 2;stroke-width:1.5}
svg .ram{fill:#e8f1e4;stroke:#9fbf94}svg .changed{fill:#d62728}svg g.cell:hover rect,svg g.bar:hover rect{stroke:#000;stroke-width:1.5}
h3{font-size:14px;margin:12px 0 2px}li.loss{color:#a11d1d}li.expected{color:#4a5568}li.pass{color:#23703a}p.measured{font-weight:600;margin:4px 0}
table{border-collapse:collapse;font-size:12.5px;background:#fff}th,td{border:1px solid #e3e5ea;padding:3px 7px;text-align:left}th{background:#f1f3f7}
`;

/** The verdict section: which designs reach a dump on measured firmware, the per-design columns, and one line per lost or expected scenario. */
function verdictSection(report: CompareReport): string {
  const v = verdictRows(report);
  const table = `<table data-table="verdict"><thead><tr>${v.header.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${v.rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
  const lists = report.verdict
    .map(
      (d) =>
        `<div class="design" data-design="${esc(d.design)}"><h3>${esc(d.design)}</h3><ul>${verdictLines(d)
          .map((l) => `<li class="${l.kind}">${esc(l.text)}</li>`)
          .join('')}</ul></div>`,
    )
    .join('');
  return `<section data-section="verdict"><h2>Verdict</h2>${measuredSummary(report)
    .map((t) => `<p class="measured">${esc(t)}</p>`)
    .join('')}<div class="chart">${table}</div>${lists}</section>`;
}

/** A self-contained page (inline CSS and SVG, no network): verdict, heatmap, distributions, timelines, retention map, table. */
export function htmlReport(report: CompareReport, tableHeader: string[], tableRows: string[][]): string {
  const m = report.matrix;
  const table = `<table><thead><tr>${tableHeader.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${tableRows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>efikdump compare: ${esc(m.designs.join(', '))}</title><style>${CSS}</style></head>
<body>
<h1>efikdump compare</h1>
<p class="note">${m.designs.length} designs × ${m.scenarios.length} scenarios × ${m.runs} runs per cell (seeds ${m.seeds[0]}–${m.seeds[1]}), format ${esc(report.format)}. Hover a mark for its figures.</p>
${verdictSection(report)}
<h2>Outcomes: successful runs per cell</h2>
<p class="note">Each scenario says what success is (a dump, complete or with every loss declared, unless it says otherwise: <code>forgery-rejected</code> for a forged marker, <code>handoff-rejected</code> for a damaged record). Colour is the success rate, red 0 % to green 100 %; slate “expected” where every failure is one the scenario expects of that design (no dump is possible). The tooltip holds the Wilson 95 % interval and every outcome count.</p>
<div class="chart">${heatmap(report)}</div>
<h2>Crash-to-dump time (virtual)</h2>
<p class="note">From the panic to the end of the dump write / verification, on a logarithmic axis; box = quartiles, bar = median, dots = runs.</p>
<div class="chart">${distributions(report)}</div>
<h2>Timeline of one representative run per design</h2>
<p class="note">Stages on the virtual clock; the dashed line is the panic.</p>
<div class="chart">${gantt(report)}</div>
<h2>Retention map</h2>
<p class="note">Physical address space of each representative run; red = ranges the firmware wrote or the DRAM lost across the reset, per retention policy.</p>
<div class="chart">${retentionMap(report)}</div>
<h2>Table</h2>
<div class="chart">${table}</div>
<script>
// Charts are static SVG; this only marks the page as rendered (the end-to-end test reads it).
document.documentElement.dataset.rendered = String(document.querySelectorAll('svg[data-chart]').length);
</script>
</body></html>
`;
}
