#!/usr/bin/env node
'use strict';
/**
 * efikdump convert against makedumpfile and cp, on one ELF vmcore, in one run.
 *
 *   node tools/bench/convert/bench-convert.js [--size 1GiB] [--mix zero=0.5,text=0.2,semi=0.15,random=0.15]
 *        [--threads N] [--seed N] [--repeat N] [--keep DIR] [--quick] [--json]
 *
 * The vmcore is made by the simulator (`efikdump run --out`) with a scenario whose page mix is the
 * one asked for: zero (free memory), text (page cache: words), semi-compressible (kernel code and
 * slab objects, half each) and random (anonymous memory). Its VMCOREINFO and FLATMEM mem_map let
 * makedumpfile filter it at any level. Every output is read back by libkdumpfile page by page
 * against the input (tools/interop/check_dump.py compare). Each case runs --repeat times (default
 * 3; makedumpfile --num-threads once), in rounds (every case once per round, so that load from
 * elsewhere falls on ours and the peer alike), and the median wall time is reported, the wall
 * times of each round's pair (ours / peer) besides, the median CPU time
 * (user + system, all threads: what the work costs whatever else the machine runs), the highest peak RSS.
 * `--quick` (CI) uses 256 MiB and one repetition, skips
 * makedumpfile --num-threads (it busy-waits: tens of seconds) and fails on any check, not on time.
 */
const { spawnSync } = require('node:child_process');
const { mkdtempSync, mkdirSync, rmSync, statSync, writeFileSync, existsSync, unlinkSync } = require('node:fs');
const { availableParallelism, cpus, tmpdir } = require('node:os');
const { join, resolve } = require('node:path');

const REPO = resolve(__dirname, '../../..');
const CLI = join(REPO, 'apps/cli/bin/efikdump.js');
const MEASURE = join(REPO, 'tools/bench/measure.py');
const CHECKER = join(REPO, 'tools/interop/check_dump.py');
const PYTHON = '/usr/bin/python3';
const MiB = 1024 * 1024;

function parseArgs(argv) {
  const o = { size: '1GiB', mix: 'zero=0.5,text=0.2,semi=0.15,random=0.15', threads: String(availableParallelism()), seed: '1', repeat: '3', quick: false, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') o.quick = true;
    else if (a === '--json') o.json = true;
    else if (['--size', '--mix', '--threads', '--seed', '--keep', '--repeat'].includes(a)) o[a.slice(2)] = argv[++i];
    else throw new Error(`unknown argument ${a} (see the comment at the top of ${__filename})`);
  }
  if (o.quick && !argv.includes('--size')) o.size = '256MiB';
  if (o.quick && !argv.includes('--repeat')) o.repeat = '1';
  return o;
}

function bytesOf(text) {
  const m = /^(\d+)(MiB|GiB)$/.exec(text);
  if (!m) throw new Error(`--size expects e.g. 512MiB or 1GiB, found ${text}`);
  return Number(m[1]) * (m[2] === 'GiB' ? 1024 * MiB : MiB);
}

/** RAM for a vmcore of about `size`: the reservation (192 MiB for 1-4 GiB) is not dumped, the 32 MiB kernel image is dumped twice. */
function ramFor(size) {
  const reserved = size + 160 * MiB <= 4096 * MiB ? (size + 160 * MiB <= 1024 * MiB ? 96 : 192) : 256;
  return Math.max(256, Math.round(size / MiB + reserved - 26)) + 'MiB';
}

function mixScenario(mix, ram) {
  const parts = Object.fromEntries(mix.split(',').map((kv) => { const [k, v] = kv.split('='); return [k.trim(), Number(v)]; }));
  for (const k of Object.keys(parts)) if (!['zero', 'text', 'semi', 'random'].includes(k)) throw new Error(`--mix: unknown kind ${k} (zero, text, semi, random)`);
  const semi = parts.semi ?? 0;
  return {
    format: 'efikdump-scenario/1', name: 'bench-convert', description: `benchmark mix ${mix}`,
    machine: { memory: ram, cpus: 2, pageMix: { zero: parts.zero ?? 0, 'page-cache': parts.text ?? 0, 'kernel-text': semi / 2, slab: semi / 2, anon: parts.random ?? 0 } },
    workload: { pageWrites: 0 },
  };
}

function measure(argv) {
  const r = spawnSync(PYTHON, [MEASURE, ...argv], { encoding: 'utf8', maxBuffer: 64 * MiB });
  if (r.status !== 0) throw new Error(`measure.py failed: ${r.stderr}`);
  const m = JSON.parse(r.stdout);
  if (m.exit !== 0) throw new Error(`${argv.join(' ')} exited ${m.exit}:\n${m.stdout.slice(-2000)}\n${m.stderr_tail}`);
  return m;
}

function check(input, output) {
  const r = spawnSync(PYTHON, [CHECKER, 'compare', input, output], { encoding: 'utf8', maxBuffer: 16 * MiB });
  let result;
  try { result = JSON.parse(r.stdout); } catch { return { ok: false, text: `checker failed: ${r.stderr.slice(-500)}` }; }
  return { ok: r.status === 0 && result.differ_count === 0, text: `${result.equal} equal, ${result.differ_count} differ, ${result.absent_in_output} left out`, result };
}

function main() {
  const o = parseArgs(process.argv.slice(2));
  const dir = o.keep ? resolve(o.keep) : mkdtempSync(join(tmpdir(), 'efikdump-bench-convert-'));
  mkdirSync(dir, { recursive: true });
  const file = (n) => join(dir, n);
  const fresh = (n) => { if (existsSync(file(n))) unlinkSync(file(n)); return file(n); };
  const log = (s) => process.stderr.write(s + '\n');
  const rows = [];
  const failures = [];
  try {
    const ram = ramFor(bytesOf(o.size));
    writeFileSync(file('scenario.json'), JSON.stringify(mixScenario(o.mix, ram)));
    const input = file('input.vmcore');
    if (!existsSync(input)) {
      log(`making the vmcore: efikdump run --memory ${ram} --scenario (mix ${o.mix})`);
      const r = spawnSync(process.execPath, [CLI, 'run', '--scenario', file('scenario.json'), '--memory', ram, '--seed', o.seed, '--out', input], { encoding: 'utf8', maxBuffer: 64 * MiB });
      if (r.status !== 0) throw new Error(`efikdump run failed:\n${r.stdout}\n${r.stderr}`);
    }
    const inputBytes = statSync(input).size;
    const threads = Number(o.threads);
    const haveMakedumpfile = spawnSync('makedumpfile', ['-v']).status === 0;
    const efik = (args, out) => [process.execPath, CLI, 'convert', input, '-o', fresh(out), ...args];
    const cases = [
      { name: 'cp (floor)', kind: 'floor', argv: () => ['cp', input, fresh('cp.vmcore')], out: 'cp.vmcore' },
      { name: 'cp + sync of the copy', kind: 'floor', argv: () => ['sh', '-c', `cp "${input}" "${fresh('cps.vmcore')}" && sync "${file('cps.vmcore')}"`], out: 'cps.vmcore' },
      // What every efikdump case pays before it reads a byte: Node, the CLI and the packages it loads.
      { name: 'efikdump start-up only (--help)', kind: 'floor', argv: () => [process.execPath, CLI, '--help'] },
      { name: 'efikdump kdump zlib -d 1 --threads 1', kind: 'kdump1', threads: 1, argv: () => efik(['--compress', 'zlib', '--dump-level', '1', '--threads', '1'], 'e-z1-t1.kd'), out: 'e-z1-t1.kd' },
      { name: `efikdump kdump zlib -d 1 --threads ${threads}`, kind: 'kdump1', threads, argv: () => efik(['--compress', 'zlib', '--dump-level', '1', '--threads', String(threads)], 'e-z1.kd'), out: 'e-z1.kd' },
      { name: 'makedumpfile -c -d 1', kind: 'kdump1', threads: 1, peer: true, argv: () => ['makedumpfile', '-c', '-d', '1', input, fresh('m-z1.kd')], out: 'm-z1.kd' },
      { name: `makedumpfile -c -d 1 --num-threads ${threads}`, kind: 'kdump1', threads, peer: true, slow: true, argv: () => ['makedumpfile', '-c', '-d', '1', '--num-threads', String(threads), input, fresh('m-z1-t.kd')], out: 'm-z1-t.kd' },
      { name: 'efikdump ELF -d 1 (zero pages dropped)', kind: 'elf1', argv: () => efik(['--format', 'elf', '--dump-level', '1'], 'e-elf1.vmcore'), out: 'e-elf1.vmcore' },
      { name: 'makedumpfile -E -d 1', kind: 'elf1', peer: true, argv: () => ['makedumpfile', '-E', '-d', '1', input, fresh('m-elf1.vmcore')], out: 'm-elf1.vmcore' },
      { name: `efikdump kdump zlib -d 31 --threads ${threads}`, kind: 'kdump31', threads, argv: () => efik(['--compress', 'zlib', '--dump-level', '31', '--threads', String(threads)], 'e-z31.kd'), out: 'e-z31.kd' },
      { name: 'makedumpfile -c -d 31', kind: 'kdump31', peer: true, argv: () => ['makedumpfile', '-c', '-d', '31', input, fresh('m-z31.kd')], out: 'm-z31.kd' },
    ].filter((c) => (haveMakedumpfile || !c.argv()[0].startsWith('makedumpfile')) && !(o.quick && c.slow));
    // Rounds: every case once per round, in order, so that a burst of load elsewhere on the
    // machine falls on ours and on the peer alike (per-round ratios are reported besides medians).
    const runsOf = new Map(cases.map((c) => [c, []]));
    const failedWhy = new Map();
    const rounds = Number(o.repeat);
    for (let k = 0; k < rounds; k++) {
      for (const c of cases) {
        if (failedWhy.has(c) || (c.slow && k > 0)) continue;
        log(`round ${k + 1}/${rounds}: ${c.name}...`);
        try {
          runsOf.get(c).push(measure(c.argv()));
        } catch (e) {
          // A peer that crashes is reported, not fatal (makedumpfile --num-threads has aborted in
          // pthread_exit here); a failure of ours is.
          if (!c.peer) throw e;
          const why = String(e.message).split('\n').filter(Boolean).pop();
          log(`${c.name} failed: ${why}`);
          failedWhy.set(c, why);
        }
      }
    }
    for (const c of cases) {
      if (failedWhy.has(c)) {
        rows.push({ case: c.name, kind: c.kind, threads: c.threads, peer: true, failed: failedWhy.get(c) });
        continue;
      }
      const runs = runsOf.get(c);
      const walls = runs.map((x) => x.wall_s).sort((a, b) => a - b);
      const cpu = runs.map((x) => x.user_s + x.sys_s).sort((a, b) => a - b);
      const m = { wall_s: walls[Math.floor(walls.length / 2)], cpu_s: cpu[Math.floor(cpu.length / 2)], max_rss_bytes: Math.max(...runs.map((x) => x.max_rss_bytes)), walls };
      const size = c.out ? statSync(file(c.out)).size : 0;
      const row = {
        case: c.name, kind: c.kind, threads: c.threads, peer: !!c.peer, wall_s: m.wall_s, cpu_s: m.cpu_s, walls: m.walls,
        rounds: runs.map((x) => x.wall_s), mb_s: inputBytes / 1e6 / m.wall_s, output_bytes: size, peak_rss_mib: m.max_rss_bytes / MiB,
      };
      if (c.out && c.kind !== 'floor') {
        const v = check(input, file(c.out));
        row.check = v.text;
        if (!v.ok) failures.push(`${c.name}: ${v.text}`);
      }
      rows.push(row);
      if (!o.keep && c.out && c.kind !== 'floor' && existsSync(file(c.out)) && !['m-z1.kd', 'e-z1.kd', 'e-z1-t1.kd', 'e-elf1.vmcore'].includes(c.out)) unlinkSync(file(c.out));
    }
    const failedRows = rows.filter((r) => r.failed);
    for (const r of failedRows) rows.splice(rows.indexOf(r), 1);
    const find = (name) => rows.find((r) => r.case === name);
    const ratios = [];
    const mdf1 = find('makedumpfile -c -d 1');
    for (const r of rows.filter((x) => x.kind === 'kdump1' && !x.peer)) {
      const peer = rows.find((x) => x.kind === 'kdump1' && x.peer && x.threads === r.threads);
      if (peer) ratios.push({ target: 'kdump zlib -d 1 wall ≤ 0.9 × makedumpfile at the same thread count', ours: r.case, peer: peer.case, ratio: r.wall_s / peer.wall_s, limit: 0.9 });
      if (mdf1 && r.threads !== 1) ratios.push({ target: 'kdump zlib -d 1 wall vs single-threaded makedumpfile (informative)', ours: r.case, peer: mdf1.case, ratio: r.wall_s / mdf1.wall_s });
      if (mdf1) ratios.push({ target: 'kdump zlib -d 1 output within 2 % of makedumpfile', ours: r.case, peer: mdf1.case, ratio: r.output_bytes / mdf1.output_bytes, limit: [0.98, 1.02] });
    }
    const elf = find('efikdump ELF -d 1 (zero pages dropped)');
    if (elf) {
      ratios.push({ target: 'ELF zero pages dropped ≤ 1.3 × cp', ours: elf.case, peer: 'cp (floor)', ratio: elf.wall_s / find('cp (floor)').wall_s, limit: 1.3 });
      ratios.push({ target: 'ELF zero pages dropped vs cp + sync (informative: convert fsyncs, cp does not)', ours: elf.case, peer: 'cp + sync of the copy', ratio: elf.wall_s / find('cp + sync of the copy').wall_s });
      const startup = find('efikdump start-up only (--help)');
      if (startup) ratios.push({ target: 'ELF zero pages dropped less our start-up vs cp (informative: the work alone)', ours: elf.case, peer: 'cp (floor)', ratio: (elf.wall_s - startup.wall_s) / find('cp (floor)').wall_s });
    }
    const d31 = rows.find((x) => x.kind === 'kdump31' && !x.peer);
    const m31 = rows.find((x) => x.kind === 'kdump31' && x.peer);
    if (d31 && m31) ratios.push({ target: 'kdump zlib -d 31 (informative)', ours: d31.case, peer: m31.case, ratio: d31.wall_s / m31.wall_s });
    for (const r of rows.filter((x) => x.case.startsWith('efikdump'))) ratios.push({ target: 'peak RSS ≤ 256 MiB', ours: r.case, peer: '-', ratio: r.peak_rss_mib, limit: 256 });
    // Per-round ratios of wall times (both cases ran in the same round, minutes apart at most).
    const paired = (a, b) => {
      const ra = find(a)?.rounds;
      const rb = find(b)?.rounds;
      if (!ra || !rb || ra.length !== rb.length || ra.length < 2) return undefined;
      return ra.map((w, k) => w / rb[k]);
    };
    for (const r of ratios) {
      if (r.peer !== '-' && !r.target.includes('output') && !r.target.includes('less our start-up')) r.rounds = paired(r.ours, r.peer);
    }
    for (const r of ratios) {
      if (r.limit === undefined) r.met = '-';
      else r.met = Array.isArray(r.limit) ? (r.ratio >= r.limit[0] && r.ratio <= r.limit[1] ? 'yes' : 'NO') : (r.ratio <= r.limit ? 'yes' : 'NO');
    }
    const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, node ${process.version}`;
    if (o.json) {
      console.log(JSON.stringify({ machine, input: { bytes: inputBytes, ram, mix: o.mix }, rows, ratios, failures, peersFailed: failedRows }, null, 2));
    } else {
      console.log(`input: ${(inputBytes / MiB).toFixed(0)} MiB ELF vmcore (RAM ${ram}, mix ${o.mix}); ${machine}`);
      console.table(rows.map((r) => ({ case: r.case, 'wall s (median)': r.wall_s.toFixed(2), 'runs (by round)': r.rounds.map((w) => w.toFixed(2)).join(' '), 'CPU s': r.cpu_s.toFixed(2), 'MB/s': r.mb_s.toFixed(0), 'output MiB': (r.output_bytes / MiB).toFixed(1), 'peak RSS MiB': r.peak_rss_mib.toFixed(0), check: r.check ?? '' })));
      console.table(ratios.map((r) => ({ target: r.target, ours: r.ours, peer: r.peer, ratio: r.ratio.toFixed(3), 'per round': r.rounds ? r.rounds.map((x) => x.toFixed(2)).join(' ') : '', met: r.met })));
      for (const r of failedRows) console.log(`peer failed (not counted): ${r.case}: ${r.failed}`);
      if (failures.length) console.log('FAILED CHECKS:\n' + failures.join('\n'));
    }
    if (failures.length) process.exitCode = 1;
  } finally {
    if (!o.keep) rmSync(dir, { recursive: true, force: true });
  }
}

main();
