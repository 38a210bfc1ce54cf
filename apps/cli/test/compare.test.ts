import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OUTCOMES } from '@efikdump/core';
import { main } from '../src/main';
import type { Output } from '../src/output';
import { summarizeCell, aggregate, designVerdicts } from '../src/compare/aggregate';
import { cellRule, sweepId } from '../src/compare/sweep';
import { markdownReport, tableRows } from '../src/compare/table';
import { verdictLines } from '../src/compare/verdict';
import { loadDesign, loadScenario } from '../src/library';
import { ConfigError } from '@efikdump/core';
import { LocalBackend } from '../src/compare/local.backend';
import { ThreadsBackend } from '../src/compare/threads.backend';
import { crashToDumpUs } from '../src/compare/run-job';
import { median, percentile, stableStringify, wilsonInterval } from '../src/compare/stats';
import { buildJobs, runSweep } from '../src/compare/sweep';
import { SweepProgress } from '../src/compare/progress';
import type { JobResult } from '../src/compare/types';
import { efikdump, tempDir } from './helpers';

/** The subset of JSON Schema that report.schema.json uses, enough to check a report against it. */
function schemaErrors(schema: any, v: unknown, path = '$'): string[] {
  const errs: string[] = [];
  if (schema.oneOf) {
    const ok = schema.oneOf.filter((s: any) => schemaErrors(s, v, path).length === 0).length;
    return ok === 1 ? [] : [`${path}: matches ${ok} of oneOf`];
  }
  if ('const' in schema && v !== schema.const) errs.push(`${path}: expected ${schema.const}`);
  if (schema.enum && !schema.enum.includes(v)) errs.push(`${path}: ${String(v)} not in enum`);
  const t = schema.type;
  if (t === 'null' && v !== null) errs.push(`${path}: expected null`);
  if (t === 'string' && typeof v !== 'string') errs.push(`${path}: expected string`);
  if ((t === 'number' || t === 'integer') && (typeof v !== 'number' || (t === 'integer' && !Number.isInteger(v))))
    errs.push(`${path}: expected ${t}`);
  if (typeof v === 'number' && schema.minimum !== undefined && v < schema.minimum) errs.push(`${path}: below ${schema.minimum}`);
  if (t === 'array') {
    if (!Array.isArray(v)) return [...errs, `${path}: expected array`];
    if (schema.minItems !== undefined && v.length < schema.minItems) errs.push(`${path}: too few items`);
    if (schema.maxItems !== undefined && v.length > schema.maxItems) errs.push(`${path}: too many items`);
    if (schema.items) v.forEach((x, i) => errs.push(...schemaErrors(schema.items, x, `${path}[${i}]`)));
  }
  if (t === 'object') {
    if (!v || typeof v !== 'object' || Array.isArray(v)) return [...errs, `${path}: expected object`];
    const o = v as Record<string, unknown>;
    for (const k of schema.required ?? []) if (!(k in o)) errs.push(`${path}: missing ${k}`);
    for (const [k, x] of Object.entries(o)) {
      if (schema.properties?.[k]) errs.push(...schemaErrors(schema.properties[k], x, `${path}.${k}`));
      else if (schema.additionalProperties === false) errs.push(`${path}: unexpected ${k}`);
    }
  }
  return errs;
}

function capture(tty = false): Output & { outLines: string[]; errLines: string[] } {
  const outLines: string[] = [];
  const errLines: string[] = [];
  return { outLines, errLines, out: (l) => outLines.push(l), err: (l) => errLines.push(l), tty };
}

describe('statistics', () => {
  it('Wilson 95 % interval matches hand-computed values', () => {
    // 8/10: p = .8, z² = 3.841459, centre = (.8 + .192073)/1.384146 = .716740, half = 1.959964·sqrt(.016 + .009604)/1.384146 = .226580
    const [lo, hi] = wilsonInterval(8, 10);
    expect(lo).toBeCloseTo(0.49016, 5);
    expect(hi).toBeCloseTo(0.943318, 5);
    // 0/10: upper = z²/n / (1 + z²/n) = .384146/1.384146 = .277532
    expect(wilsonInterval(0, 10)[0]).toBe(0);
    expect(wilsonInterval(0, 10)[1]).toBeCloseTo(0.277532, 5);
    // n/n mirrors 0/n
    expect(wilsonInterval(10, 10)[0]).toBeCloseTo(1 - 0.277532, 5);
    expect(wilsonInterval(10, 10)[1]).toBe(1);
    // 1/2: centre .5, half = 1.959964·sqrt(.125 + .480182)/(1 + 1.920730) = .5 · 1.524... → [.094531, .905469]
    const [a, b] = wilsonInterval(1, 2);
    expect(a).toBeCloseTo(0.094531, 5);
    expect(b).toBeCloseTo(0.905469, 5);
    expect(wilsonInterval(0, 0)).toEqual([0, 1]);
  });

  it('median and nearest-rank percentiles', () => {
    const v = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(median(v)).toBe(5.5);
    expect(median([3, 1, 2].sort())).toBe(2);
    expect(percentile(v, 0.95)).toBe(10);
    expect(percentile(v, 0.5)).toBe(5);
    expect(percentile(v, 0.25)).toBe(3);
    expect(percentile([7], 0.95)).toBe(7);
  });

  it('stable JSON sorts keys at every level', () => {
    expect(stableStringify({ b: 1, a: { d: [{ z: 1, y: 2 }], c: 2 } }, 0)).toBe('{"a":{"c":2,"d":[{"y":2,"z":1}]},"b":1}\n');
  });

  it('crash-to-dump time runs from the panic start to the last dump-write/verify end', () => {
    const t = (tUs: number, stage: string, kind: string) => ({ tUs, stage, kind, message: '' });
    expect(
      crashToDumpUs([t(0, 'power-on', 'start'), t(100, 'panic', 'start'), t(900, 'dump-write', 'end'), t(1000, 'verify', 'end')]),
    ).toBe(900);
    expect(crashToDumpUs([t(100, 'panic', 'start'), t(200, 'stub', 'end')])).toBeNull();
  });
});

describe('aggregation', () => {
  const r = (seed: number, outcome: JobResult['outcome'], us: number | null): JobResult => ({
    design: 'd',
    scenario: 's',
    seed,
    outcome,
    fidelity: us === null ? null : 1,
    crashToDumpUs: us,
    nvramBytesWritten: 100 + seed,
    consoleSeen: seed % 2 === 0,
    reason: `reason of ${seed}`,
    firmwarePagesChanged: null,
    pagesDeclaredLost: null,
    ramWithheldBytes: null,
    firmwareModelled: null,
  });

  it('counts every outcome exactly and summarises the cell', () => {
    const results = [
      r(1, 'dump-complete', 10),
      r(2, 'dump-complete', 30),
      r(3, 'no-dump', null),
      r(4, 'dump-corrupt', 20),
      r(5, 'dump-complete', 40),
    ];
    const c = summarizeCell('d', 's', results);
    expect(c.runs).toBe(5);
    expect(Object.keys(c.outcomes)).toEqual([...OUTCOMES]);
    expect(c.outcomes['dump-complete']).toBe(3);
    expect(c.outcomes['no-dump']).toBe(1);
    expect(c.outcomes['dump-corrupt']).toBe(1);
    expect(c.success.rate).toBe(0.6);
    expect(c.crashToDumpUs).toMatchObject({ count: 4, min: 10, median: 25, p95: 40, max: 40, values: [10, 20, 30, 40] });
    expect(c.nvramBytesWritten).toEqual({ median: 103, max: 105 });
    expect(c.consoleSeen).toEqual({ seen: 2, of: 5 });
  });

  it("counts success by the scenario's outcomes: dump-partial is a success by default, forgery-rejected where the scenario says so", () => {
    const results = [r(1, 'dump-complete', 10), r(2, 'dump-partial', 30), r(3, 'no-dump', null), r(4, 'forgery-rejected', null)];
    const byDefault = summarizeCell('d', 's', results);
    expect(byDefault.successOutcomes).toEqual(['dump-complete', 'dump-partial']);
    expect(byDefault.success.count).toBe(2);
    expect(byDefault.status).toBe('loss');
    expect(byDefault.firstLoss).toEqual({ seed: 3, outcome: 'no-dump', reason: 'reason of 3' });
    const rejected = summarizeCell('d', 's', results, { success: ['forgery-rejected'], expected: null });
    expect(rejected.success.count).toBe(1);
    expect(rejected.firstLoss?.seed).toBe(1);
  });

  it('marks a cell "expected" when every failure is one the scenario expects of the design, and "loss" as soon as one is not', () => {
    const rule = { success: ['dump-complete' as const], expected: { outcomes: ['no-dump' as const], why: 'MOR scrubs RAM' } };
    const all = summarizeCell('d', 's', [r(1, 'no-dump', null), r(2, 'no-dump', null)], rule);
    expect(all.status).toBe('expected');
    expect(all.expected).toEqual({ outcomes: ['no-dump'], why: 'MOR scrubs RAM', count: 2 });
    expect(all.firstLoss).toBeNull();
    const mixed = summarizeCell('d', 's', [r(1, 'no-dump', null), r(2, 'dump-corrupt', 5), r(3, 'dump-complete', 5)], rule);
    expect(mixed.status).toBe('loss');
    expect(mixed.firstLoss?.outcome).toBe('dump-corrupt');
    expect(summarizeCell('d', 's', [r(1, 'dump-complete', 5)], rule).status).toBe('pass');
  });

  it("matches a scenario's expected failures by the design's exit plug-in: mor-set expects no-dump of EFI reset designs only", () => {
    const mor = loadScenario('mor-set');
    expect(cellRule(loadDesign('efi-warm-reserved-memory'), mor).expected?.outcomes).toEqual(['no-dump']);
    expect(cellRule(loadDesign('efi-cold-efivar'), mor).expected?.outcomes).toEqual(['no-dump']);
    expect(cellRule(loadDesign('classic-kexec'), mor).expected).toBeNull();
    expect(cellRule(loadDesign('fadump'), mor).expected).toBeNull();
    expect(cellRule(loadDesign('efi-warm-efivar'), loadScenario('forged-crash-marker')).success).toEqual(['forgery-rejected']);
    expect(cellRule(loadDesign('efi-warm-efivar'), loadScenario('healthy'))).toEqual({
      success: ['dump-complete', 'dump-partial'],
      expected: null,
    });
  });

  it("the verdict lists each design's lost scenarios with the first reason, its expected failures, and shows the firmware columns only when runs carry them", () => {
    const withFw = (x: JobResult, modelled: boolean | null): JobResult => ({
      ...x,
      firmwarePagesChanged: 4500 + x.seed,
      pagesDeclaredLost: 4500,
      ramWithheldBytes: 256 * 2 ** 20,
      firmwareModelled: modelled,
    });
    const cells = [
      summarizeCell(
        'a',
        'healthy',
        [r(1, 'dump-complete', 5), r(2, 'dump-partial', 6)].map((x) => withFw(x, false)),
      ),
      summarizeCell(
        'a',
        'mor-set',
        [r(1, 'no-dump', null)].map((x) => withFw(x, false)),
        { success: ['dump-complete'], expected: { outcomes: ['no-dump'], why: 'MOR' } },
      ),
      summarizeCell(
        'b',
        'healthy',
        [r(1, 'no-dump', null), r(2, 'dump-complete', 3)].map((x) => withFw(x, true)),
      ),
      summarizeCell('c', 'healthy', [r(1, 'no-dump', null)]),
    ];
    const v = designVerdicts(cells);
    expect(v.map((d) => [d.design, d.dumpOnMeasuredFirmware])).toEqual([
      ['a', 'yes'],
      ['b', 'modelled'],
      ['c', 'unreported'],
    ]);
    expect(v[0]).toMatchObject({
      passed: 1,
      losses: [],
      expected: [{ scenario: 'mor-set', count: 1, runs: 1, why: 'MOR' }],
      firmwarePagesChanged: { max: 4502 },
      pagesDeclaredLost: { max: 4500 },
    });
    expect(v[1].losses).toEqual([{ scenario: 'healthy', failed: 1, runs: 2, outcome: 'no-dump', reason: 'reason of 1' }]);
    expect(verdictLines(v[1])).toEqual([{ kind: 'loss', text: 'loses healthy: 1/2 runs not a success, first no-dump: reason of 1' }]);
    expect(verdictLines(v[0])).toEqual([{ kind: 'expected', text: 'expected in mor-set (1/1 runs): MOR' }]);
    const report = {
      format: 'efikdump-compare/1' as const,
      matrix: { designs: ['a', 'b', 'c'], scenarios: ['healthy', 'mor-set'], runs: 2, seedBase: 1, seeds: [1, 2] as [number, number] },
      outcomes: [...OUTCOMES],
      verdict: v,
      cells,
      representatives: [],
    };
    const t = tableRows(report);
    expect(t.header).toEqual(expect.arrayContaining(['verdict', 'fw pages changed', 'pages declared lost', 'RAM withheld']));
    expect(t.rows[2][t.header.indexOf('fw pages changed')]).toBe('4501.5 (modelled)');
    expect(t.rows[1][t.header.indexOf('verdict')]).toBe('expected');
    const md = markdownReport(report);
    expect(md.indexOf('## Verdict')).toBeLessThan(md.indexOf('## Every cell'));
    expect(md).toContain('Reach a dump on measured firmware: a.');
    expect(md).toContain('On modelled firmware retention only (not measured): b.');
    // Without the metrics the columns are not there at all.
    const bare = { ...report, cells: [cells[3]], verdict: designVerdicts([cells[3]]) };
    expect(tableRows(bare).header).not.toContain('fw pages changed');
  });

  it('is independent of the order results arrive in', () => {
    const results = [r(1, 'dump-complete', 10), r(2, 'no-dump', null), r(3, 'dump-complete', 5)];
    expect(stableStringify(aggregate(results))).toBe(stableStringify(aggregate([...results].reverse())));
  });
});

describe('sweep', () => {
  const matrix = {
    designs: ['efi-warm-with-firmware-retention', 'efi-warm-reserved-memory'],
    scenarios: ['healthy', 'firmware-scrubs-low-memory', 'torn-nvram-write'],
    runs: 3,
    seedBase: 7,
  };

  it('names a sweep by its matrix and documents: the same inputs give the same id, a changed scenario another; a resume with another id is refused', async () => {
    const designs = matrix.designs.map((d) => loadDesign(d));
    const scenarios = matrix.scenarios.map((x) => loadScenario(x));
    const id = sweepId(matrix, designs, scenarios);
    expect(id).toMatch(/^[0-9a-f]{16}$/);
    expect(
      sweepId(
        { ...matrix },
        designs.map((d) => ({ ...d, source: '/elsewhere.json' })),
        scenarios,
      ),
    ).toBe(id);
    expect(sweepId(matrix, designs, [{ ...scenarios[0], workload: { pageWrites: 257 } }, ...scenarios.slice(1)])).not.toBe(id);
    expect(sweepId({ ...matrix, runs: 4 }, designs, scenarios)).not.toBe(id);
    await expect(runSweep(matrix, new LocalBackend(), undefined, { expectId: '0000000000000000' })).rejects.toThrow(ConfigError);
  });

  it('builds every (design, scenario, seed) job with seed = BASE + i', () => {
    const jobs = buildJobs(matrix);
    expect(jobs).toHaveLength(18);
    expect(jobs.slice(0, 3).map((j) => j.seed)).toEqual([7, 8, 9]);
    expect(new Set(jobs.map((j) => `${j.design}|${j.scenario}|${j.seed}`)).size).toBe(18);
  });

  it('gives byte-identical report JSON in-process and on 1 or 3 worker threads, with exact counts', async () => {
    const local = await runSweep(matrix, new LocalBackend());
    const t1 = await runSweep(matrix, new ThreadsBackend(1));
    const t3 = await runSweep(matrix, new ThreadsBackend(3));
    const json = stableStringify(local.report);
    expect(stableStringify(t1.report)).toBe(json);
    expect(stableStringify(t3.report)).toBe(json);
    expect(local.report.cells).toHaveLength(6);
    for (const c of local.report.cells) {
      expect(c.runs).toBe(3);
      expect(Object.values(c.outcomes).reduce((a, b) => a + b, 0)).toBe(3);
    }
    expect(local.report.cells.map((c) => `${c.design}/${c.scenario}`)).toEqual(
      [...local.report.cells.map((c) => `${c.design}/${c.scenario}`)].sort(),
    );
    expect(t3.timing.workers).toBe(3);
    expect(JSON.stringify(local.report)).not.toMatch(/wall|runsPerSecond/);
    // Representatives carry a timeline and the retention map.
    const rep = local.report.representatives.find((x) => x.design === 'efi-warm-with-firmware-retention')!;
    expect(rep.stages.map((s) => s.stage)).toEqual(expect.arrayContaining(['power-on', 'panic', 'firmware-post']));
    expect(rep.retention.some((p) => p.changedRanges.length > 0)).toBe(true);
  });

  it('rejects an unknown design or scenario with the known names', async () => {
    await expect(runSweep({ ...matrix, designs: ['nope'] }, new LocalBackend())).rejects.toThrow(
      /Unknown design: nope \(known: [^)]*efi-warm-reserved-memory, [^)]*efi-warm-with-firmware-retention/,
    );
    await expect(runSweep({ ...matrix, scenarios: ['healthy', 'nah'] }, new LocalBackend())).rejects.toThrow(
      /Unknown scenario: nah \(known: .*healthy/,
    );
  });
});

describe('progress', () => {
  it('prints plain lines per 10 % without a terminal, a redrawn bar with rate and ETA on one, nothing when silent', () => {
    let t = 0;
    const plain = capture();
    const p = new SweepProgress(plain, 'plain', () => t);
    for (let i = 1; i <= 20; i++) {
      t += 500;
      p.update(i, 20);
    }
    expect(plain.errLines).toHaveLength(11);
    expect(plain.errLines[plain.errLines.length - 1]).toMatch(/^compare: 20\/20 runs \(100 %\), 2\.0 runs\/s, ETA 0\.0s$/);
    const tty = capture(true);
    t = 0;
    const b = new SweepProgress(tty, 'tty', () => t);
    t = 1000;
    b.update(5, 10);
    t = 2000;
    b.update(10, 10);
    expect(tty.errLines[0]).toMatch(/^compare █+░+ 5\/10 5\.0 runs\/s ETA 1\.0s$/);
    expect(tty.errLines[1].startsWith('\x1b[1A\x1b[2K')).toBe(true);
    const silent = capture();
    new SweepProgress(silent, 'silent').update(1, 1);
    expect(silent.errLines).toEqual([]);
  });
});

describe('efikdump compare (CLI)', () => {
  it('writes every report file, prints the table and --json prints report.json', () => {
    const { dir, cleanup } = tempDir('compare');
    try {
      const args = [
        'compare',
        '--designs',
        'efi-warm-reserved-memory-ideal-firmware',
        '--scenarios',
        'healthy,mor-set',
        '--runs',
        '2',
        '--workers',
        '2',
      ];
      const r = efikdump([...args, '--report', join(dir, 'a')]);
      expect(r.stderr).toMatch(/compare: 4\/4 runs \(100 %\)/);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/efi-warm-reserved-memory-ideal-firmware\s+healthy\s+2\s+2\s+100 % \(34 %–100 %\)/);
      expect(r.stdout).toContain(`report: ${join(dir, 'a', 'report.html')}`);
      expect(r.stdout).not.toContain('\x1b[');
      const report = JSON.parse(readFileSync(join(dir, 'a', 'report.json'), 'utf8'));
      expect(report.format).toBe('efikdump-compare/1');
      const schema = JSON.parse(readFileSync(join(dir, 'a', 'report.schema.json'), 'utf8'));
      expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
      expect(schemaErrors(schema, report)).toEqual([]);
      // The check is not vacuous: a stray field, a wrong type and a missing field are all caught.
      expect(schemaErrors(schema, { ...report, extra: 1 })).toEqual(['$: unexpected extra']);
      expect(schemaErrors(schema, { ...report, matrix: { ...report.matrix, runs: 'two' } })).toEqual(['$.matrix.runs: expected integer']);
      const { cells: _cells, ...noCells } = report;
      expect(schemaErrors(schema, noCells)).toEqual(['$: missing cells']);
      expect(readFileSync(join(dir, 'a', 'report.md'), 'utf8')).toContain('| efi-warm-reserved-memory-ideal-firmware | healthy | 2 | 2 |');
      expect(JSON.parse(readFileSync(join(dir, 'a', 'timing.json'), 'utf8'))).toMatchObject({ backend: 'threads', workers: 2, jobs: 4 });

      const j = efikdump([...args, '--backend', 'local', '--json', '--report', join(dir, 'b')]);
      expect(j.status).toBe(0);
      expect(j.stderr).toBe('');
      expect(j.stdout).toBe(readFileSync(join(dir, 'a', 'report.json'), 'utf8'));
      expect(readFileSync(join(dir, 'b', 'report.json'), 'utf8')).toBe(j.stdout);
    } finally {
      cleanup();
    }
  });

  it('fails with a ConfigError exit code on bad input', async () => {
    const io = capture();
    expect(await main(['compare', '--designs', 'nope', '--report', '/tmp/unused-efikdump'], io)).toBe(2);
    expect(io.errLines.join('\n')).toMatch(/Unknown design: nope \(known: /);
    const io2 = capture();
    expect(await main(['compare', '--backend', 'carrier-pigeon', '--report', '/tmp/unused-efikdump'], io2)).toBe(2);
    expect(io2.errLines.join('\n')).toMatch(/Unknown backend: carrier-pigeon \(known: local, threads/);
    const io4 = capture();
    expect(await main(['compare', '--backend', 'bullmq', '--report', '/tmp/unused-efikdump'], io4)).toBe(2);
    expect(io4.errLines.join('\n')).toMatch(/--backend bullmq needs --redis URL/);
    const io3 = capture();
    expect(await main(['compare', '--runs', '2'], io3)).toBe(2);
    expect(io3.errLines.join('\n')).toMatch(/--report DIR is required/);
  });
});
