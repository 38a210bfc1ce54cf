#!/usr/bin/env node
'use strict';
/**
 * efikdump benchmarks. `npm run bench [-- NAME...]` (names: run-1tib, crash-world-1tib, run-4gib-out, convert, sweep; default all).
 * `convert` runs tools/bench/convert/bench-convert.js (its arguments from EFIKDUMP_BENCH_CONVERT_ARGS,
 * e.g. "--size 1GiB --threads 2"); it prints its own tables.
 * Each case runs the built CLI under tools/bench/measure.py (wall time, peak RSS of the process)
 * and, where a peer tool does the same job, runs it on the same input in the same run and prints
 * the ratio. Figures vary by machine: quote them with the command and the machine.
 */
const { spawnSync } = require('node:child_process');
const { mkdtempSync, rmSync, statSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');

const REPO = resolve(__dirname, '../..');
const CLI = join(REPO, 'apps/cli/bin/efikdump.js');
const MEASURE = join(__dirname, 'measure.py');
const MiB = 1024 * 1024;

function measure(argv) {
  const r = spawnSync('/usr/bin/python3', [MEASURE, ...argv], { encoding: 'utf8', maxBuffer: 16 * MiB });
  if (r.status !== 0) throw new Error(`measure.py failed: ${r.stderr}`);
  const m = JSON.parse(r.stdout);
  if (m.exit !== 0) throw new Error(`${argv.join(' ')} exited ${m.exit}:\n${m.stdout}\n${m.stderr_tail}`);
  return m;
}

const fmt = (n, d = 2) => n.toFixed(d);
const rows = [];
function report(name, m, extra = {}) {
  rows.push({ case: name, 'wall s': fmt(m.wall_s), 'peak RSS MiB': fmt(m.max_rss_bytes / MiB, 0), ...extra });
}

const cases = {
  'run-1tib'() {
    const m = measure([
      process.execPath,
      CLI,
      'run',
      '--design',
      'efi-warm-reserved-memory',
      '--memory',
      '1TiB',
      '--cpus',
      '64',
      '--seed',
      '1',
      '--json',
    ]);
    const result = JSON.parse(m.stdout.slice(m.stdout.indexOf('{')));
    report('run --memory 1TiB (no --out)', m, { outcome: result.outcome, 'pages verified': result.metrics.pagesChecked });
  },
  'crash-world-1tib'() {
    // Every exit path on the huge-memory-1tib scenario: the model must not materialise the 1 TiB.
    for (const design of ['classic-kexec', 'efi-warm-reserved-memory', 'efi-cold-reserved-memory', 'fadump']) {
      const m = measure([process.execPath, CLI, 'run', '--design', design, '--scenario', 'huge-memory-1tib', '--seed', '1', '--json']);
      const result = JSON.parse(m.stdout.slice(m.stdout.indexOf('{')));
      report(`${design} on huge-memory-1tib`, m, {
        outcome: result.outcome,
        'crash to dump (virtual s)': fmt((result.metrics.crashToDumpUs ?? 0) / 1e6, 1),
      });
    }
  },
  'run-4gib-out'() {
    const dir = mkdtempSync(join(tmpdir(), 'efikdump-bench-'));
    try {
      const out = join(dir, 'x.vmcore');
      const m = measure([
        process.execPath,
        CLI,
        'run',
        '--design',
        'efi-warm-reserved-memory',
        '--memory',
        '4GiB',
        '--cpus',
        '4',
        '--seed',
        '1',
        '--out',
        out,
      ]);
      const size = statSync(out).size;
      // Peer: copying the finished vmcore (sparse-aware, as cp does by default) is the floor for writing it.
      const cp = measure(['cp', out, join(dir, 'copy.vmcore')]);
      report('run --memory 4GiB --out (whole run)', m, {
        'output MiB': fmt(size / MiB, 0),
        'MB/s': fmt(size / 1e6 / m.wall_s, 0),
        'ratio to cp': fmt(m.wall_s / cp.wall_s),
      });
      report('cp of that vmcore (peer floor)', cp, {
        'output MiB': fmt(size / MiB, 0),
        'MB/s': fmt(size / 1e6 / cp.wall_s, 0),
        'ratio to cp': '1.00',
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
  convert() {
    const args = (process.env.EFIKDUMP_BENCH_CONVERT_ARGS ?? '').split(/\s+/).filter(Boolean);
    const r = spawnSync(process.execPath, [join(__dirname, 'convert/bench-convert.js'), ...args], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`the convert benchmark exited ${r.status}`);
  },
  sweep() {
    // Arguments from EFIKDUMP_BENCH_SWEEP_ARGS, e.g. "--runs 20 --workers 2"; prints its own table.
    const args = (process.env.EFIKDUMP_BENCH_SWEEP_ARGS ?? '').split(/\s+/).filter(Boolean);
    const r = spawnSync(process.execPath, [join(__dirname, 'sweep/bench-sweep.js'), ...args], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`the sweep benchmark exited ${r.status}`);
  },
};

const wanted = process.argv.slice(2);
for (const name of wanted.length ? wanted : Object.keys(cases)) {
  if (!cases[name]) {
    console.error(`unknown benchmark "${name}" (known: ${Object.keys(cases).join(', ')})`);
    process.exit(2);
  }
  process.stderr.write(`running ${name}...\n`);
  cases[name]();
}
if (rows.length) console.table(rows);
