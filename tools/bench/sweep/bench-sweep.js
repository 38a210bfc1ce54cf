#!/usr/bin/env node
'use strict';
/**
 * Sweep throughput: runs per second of the same compare matrix on each backend, in one run.
 * usage: bench-sweep.js [--runs N] [--workers N] [--designs A,B] [--scenarios X,Y]
 * In-process (local) and worker threads always; BullMQ with two local `efikdump worker` processes
 * when redis-server is installed (a private one is started on 127.0.0.1 on a free port, no persistence).
 * Each backend's report.json is compared byte for byte; the figures are wall time of the whole
 * `efikdump compare` process (startup included) and the sweep's own runs/s from timing.json.
 */
const { spawn, spawnSync } = require('node:child_process');
const { mkdtempSync, readFileSync, rmSync } = require('node:fs');
const { createServer } = require('node:net');
const { availableParallelism, tmpdir } = require('node:os');
const { join, resolve } = require('node:path');

const REPO = resolve(__dirname, '../../..');
const CLI = join(REPO, 'apps/cli/bin/efikdump.js');
const MEASURE = join(__dirname, '..', 'measure.py');

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
};
const runs = opt('runs', '10');
const workers = opt('workers', String(availableParallelism()));
const designs = opt('designs', 'efi-warm-reserved-memory,efi-warm-with-firmware-retention');
const scenarios = opt('scenarios', 'healthy,firmware-scrubs-low-memory,mor-set,torn-nvram-write');

function measure(args) {
  const r = spawnSync('/usr/bin/python3', [MEASURE, process.execPath, CLI, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`measure.py failed: ${r.stderr}`);
  const m = JSON.parse(r.stdout);
  if (m.exit !== 0) throw new Error(`efikdump ${args.join(' ')} exited ${m.exit}:\n${m.stderr_tail}`);
  return m;
}

const freePort = () =>
  new Promise((ok, no) => {
    const s = createServer();
    s.once('error', no);
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => ok(p));
    });
  });
const waitLine = (child, stream, re) =>
  new Promise((ok, no) => {
    let t = '';
    const timer = setTimeout(() => no(new Error(`timed out waiting for ${re}: ${t}`)), 20000);
    child[stream].on('data', (d) => {
      t += d;
      if (re.test(t)) {
        clearTimeout(timer);
        ok();
      }
    });
  });

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'efikdump-bench-sweep-'));
  const matrix = ['compare', '--designs', designs, '--scenarios', scenarios, '--runs', runs];
  const rows = [];
  const reports = {};
  const record = (label, name, m) => {
    const timing = JSON.parse(readFileSync(join(dir, name, 'timing.json'), 'utf8'));
    reports[label] = readFileSync(join(dir, name, 'report.json'), 'utf8');
    rows.push({
      backend: label,
      runs: timing.jobs,
      'wall s (process)': m.wall_s.toFixed(2),
      'sweep s': timing.wallSeconds.toFixed(2),
      'runs/s': timing.runsPerSecond.toFixed(1),
      'peak RSS MiB': (m.max_rss_bytes / 2 ** 20).toFixed(0),
    });
  };
  const children = [];
  try {
    process.stderr.write('sweep: local...\n');
    record('in-process (local)', 'local', measure([...matrix, '--backend', 'local', '--report', join(dir, 'local')]));
    process.stderr.write(`sweep: threads (${workers} workers)...\n`);
    record(
      `worker threads (${workers})`,
      'threads',
      measure([...matrix, '--backend', 'threads', '--workers', workers, '--report', join(dir, 'threads')]),
    );
    if (spawnSync('redis-server', ['--version']).status === 0) {
      process.stderr.write('sweep: bullmq (2 local workers)...\n');
      const port = await freePort();
      const url = `redis://127.0.0.1:${port}`;
      const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(redis);
      await waitLine(redis, 'stdout', /Ready to accept connections/);
      for (let i = 0; i < 2; i++) {
        const w = spawn(process.execPath, [CLI, 'worker', '--redis', url], { stdio: ['ignore', 'pipe', 'pipe'] });
        children.push(w);
        await waitLine(w, 'stderr', /worker: ready/);
      }
      // measure.py blocks this process; the workers and redis run on as separate processes.
      record(
        'BullMQ (2 local workers)',
        'bullmq',
        measure([...matrix, '--backend', 'bullmq', '--redis', url, '--report', join(dir, 'bullmq')]),
      );
    } else {
      process.stderr.write('sweep: redis-server not installed, BullMQ skipped\n');
    }
  } finally {
    for (const c of children.reverse()) c.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
  console.table(rows);
  const first = Object.values(reports)[0];
  const same = Object.entries(reports).map(([k, v]) => `${k}: ${v === first ? 'identical' : 'DIFFERS'}`);
  console.log(`report.json across backends: ${same.join('; ')}`);
  if (same.some((s) => s.endsWith('DIFFERS'))) process.exitCode = 1;
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
