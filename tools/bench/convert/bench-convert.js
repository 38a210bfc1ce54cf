#!/usr/bin/env node
'use strict';
/**
 * efikdump convert against makedumpfile and cp, on one ELF vmcore, in one run.
 *
 *   node tools/bench/convert/bench-convert.js [--size 1GiB] [--mix zero=0.5,text=0.2,semi=0.15,random=0.15]
 *        [--threads N] [--seed N] [--repeat N] [--keep DIR] [--only WORD,...] [--skip WORD,...] [--quick] [--json]
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
 * The headline row is the distributions' default collector, `makedumpfile -l --message-level 7 -d 31`;
 * our lzo, snappy and zstd run at -d 1 and -d 31 with one and --threads threads against makedumpfile
 * -l (and zstd against -c). Start-up rows time --help, --version, designs, convert --help, and convert from
 * its start to its first read of the input (first-read.js, a preload that exits there).
 * `--only WORD,...` keeps the cases whose name contains one of the words; `--skip WORD,...` drops them.
 * `--quick` (CI) uses 256 MiB and one repetition, skips
 * makedumpfile --num-threads (it busy-waits: tens of seconds) and fails on any check, not on time.
 */
const { spawnSync } = require('node:child_process');
const { mkdtempSync, mkdirSync, rmSync, statSync, writeFileSync, existsSync, unlinkSync } = require('node:fs');
const { availableParallelism, cpus, loadavg, tmpdir } = require('node:os');
const { join, resolve } = require('node:path');

const REPO = resolve(__dirname, '../../..');
const CLI = join(REPO, 'apps/cli/bin/efikdump.js');
const MEASURE = join(REPO, 'tools/bench/measure.py');
const CHECKER = join(REPO, 'tools/interop/check_dump.py');
const FIRST_READ = join(__dirname, 'first-read.js');
const PYTHON = '/usr/bin/python3';
const MiB = 1024 * 1024;

function parseArgs(argv) {
  const o = {
    size: '1GiB',
    mix: 'zero=0.5,text=0.2,semi=0.15,random=0.15',
    threads: String(availableParallelism()),
    seed: '1',
    repeat: '3',
    quick: false,
    json: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') o.quick = true;
    else if (a === '--json') o.json = true;
    else if (['--size', '--mix', '--threads', '--seed', '--keep', '--repeat', '--only', '--skip'].includes(a)) o[a.slice(2)] = argv[++i];
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
  const parts = Object.fromEntries(
    mix.split(',').map((kv) => {
      const [k, v] = kv.split('=');
      return [k.trim(), Number(v)];
    }),
  );
  for (const k of Object.keys(parts))
    if (!['zero', 'text', 'semi', 'random'].includes(k)) throw new Error(`--mix: unknown kind ${k} (zero, text, semi, random)`);
  const semi = parts.semi ?? 0;
  return {
    format: 'efikdump-scenario/1',
    name: 'bench-convert',
    description: `benchmark mix ${mix}`,
    machine: {
      memory: ram,
      cpus: 2,
      pageMix: { zero: parts.zero ?? 0, 'page-cache': parts.text ?? 0, 'kernel-text': semi / 2, slab: semi / 2, anon: parts.random ?? 0 },
    },
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
  try {
    result = JSON.parse(r.stdout);
  } catch {
    return { ok: false, text: `checker failed: ${r.stderr.slice(-500)}` };
  }
  return {
    ok: r.status === 0 && result.differ_count === 0,
    text: `${result.equal} equal, ${result.differ_count} differ, ${result.absent_in_output} left out`,
    result,
  };
}

function main() {
  const o = parseArgs(process.argv.slice(2));
  const dir = o.keep ? resolve(o.keep) : mkdtempSync(join(tmpdir(), 'efikdump-bench-convert-'));
  mkdirSync(dir, { recursive: true });
  const file = (n) => join(dir, n);
  const fresh = (n) => {
    if (existsSync(file(n))) unlinkSync(file(n));
    return file(n);
  };
  const log = (s) => process.stderr.write(s + '\n');
  const rows = [];
  const failures = [];
  try {
    const ram = ramFor(bytesOf(o.size));
    writeFileSync(file('scenario.json'), JSON.stringify(mixScenario(o.mix, ram)));
    const input = file('input.vmcore');
    if (!existsSync(input)) {
      log(`making the vmcore: efikdump run --memory ${ram} --scenario (mix ${o.mix})`);
      const r = spawnSync(
        process.execPath,
        [
          CLI,
          'run',
          '--design',
          'efi-warm-reserved-memory-ideal-firmware',
          '--scenario',
          file('scenario.json'),
          '--memory',
          ram,
          '--seed',
          o.seed,
          '--out',
          input,
        ],
        { encoding: 'utf8', maxBuffer: 64 * MiB },
      );
      if (r.status !== 0) throw new Error(`efikdump run failed:\n${r.stdout}\n${r.stderr}`);
    }
    const inputBytes = statSync(input).size;
    const threads = Number(o.threads);
    const haveMakedumpfile = spawnSync('makedumpfile', ['-v']).status === 0;
    const efik = (args, out) => [process.execPath, CLI, 'convert', input, '-o', fresh(out), ...args];
    const T = threads;
    // The distributions' default collector (Fedora/RHEL kdump: makedumpfile -l --message-level 7 -d 31) is the headline.
    const headline = "makedumpfile -l --message-level 7 -d 31 (distributions' default)";
    const codecCases = [];
    for (const level of [31, 1]) {
      for (const codec of ['lzo', 'snappy', 'zstd']) {
        for (const t of o.quick ? [T] : [...new Set([1, T])]) {
          const out = `e-${codec}${level}-t${t}.kd`;
          codecCases.push({
            name: `efikdump kdump ${codec} -d ${level} --threads ${t}`,
            kind: `kdump${level}`,
            codec,
            threads: t,
            argv: () => efik(['--compress', codec, '--dump-level', String(level), '--threads', String(t)], out),
            out,
          });
        }
      }
      if (level === 31)
        codecCases.push({
          name: headline,
          kind: 'kdump31',
          codec: 'lzo',
          threads: 1,
          peer: true,
          argv: () => ['makedumpfile', '-l', '--message-level', '7', '-d', '31', input, fresh('m-l31.kd')],
          out: 'm-l31.kd',
        });
      else
        codecCases.push({
          name: 'makedumpfile -l -d 1',
          kind: 'kdump1',
          codec: 'lzo',
          threads: 1,
          peer: true,
          argv: () => ['makedumpfile', '-l', '-d', '1', input, fresh('m-l1.kd')],
          out: 'm-l1.kd',
        });
    }
    let cases = [
      { name: 'cp (floor)', kind: 'floor', argv: () => ['cp', input, fresh('cp.vmcore')], out: 'cp.vmcore' },
      {
        name: 'cp + sync of the copy',
        kind: 'floor',
        argv: () => ['sh', '-c', `cp "${input}" "${fresh('cps.vmcore')}" && sync "${file('cps.vmcore')}"`],
        out: 'cps.vmcore',
      },
      { name: 'node -e 0 (bare Node.js)', kind: 'startup', argv: () => [process.execPath, '-e', '0'] },
      // What every efikdump case pays before it reads a byte: Node, the CLI and the modules the command loads.
      { name: 'efikdump start-up only (--help)', kind: 'startup', argv: () => [process.execPath, CLI, '--help'] },
      { name: 'efikdump --version', kind: 'startup', argv: () => [process.execPath, CLI, '--version'] },
      { name: 'efikdump designs', kind: 'startup', argv: () => [process.execPath, CLI, 'designs'] },
      {
        name: "efikdump convert --help (convert's modules loaded)",
        kind: 'startup',
        argv: () => [process.execPath, CLI, 'convert', '--help'],
      },
      // The process from its start to its first read of the input (a preload exits there): the 0.2 s target.
      {
        name: 'efikdump convert, start to first read of the input',
        kind: 'startup',
        argv: () => [
          'env',
          `EFIKDUMP_FIRST_READ_OF=${input}`,
          process.execPath,
          '-r',
          FIRST_READ,
          CLI,
          'convert',
          input,
          '-o',
          fresh('first-read.kd'),
          '--compress',
          'lzo',
          '--dump-level',
          '31',
          '--threads',
          '1',
        ],
      },
      ...codecCases,
      {
        name: 'efikdump kdump zlib -d 1 --threads 1',
        kind: 'kdump1',
        codec: 'zlib',
        threads: 1,
        argv: () => efik(['--compress', 'zlib', '--dump-level', '1', '--threads', '1'], 'e-z1-t1.kd'),
        out: 'e-z1-t1.kd',
      },
      {
        name: `efikdump kdump zlib -d 1 --threads ${T}`,
        kind: 'kdump1',
        codec: 'zlib',
        threads: T,
        argv: () => efik(['--compress', 'zlib', '--dump-level', '1', '--threads', String(T)], 'e-z1.kd'),
        out: 'e-z1.kd',
      },
      {
        name: 'makedumpfile -c -d 1',
        kind: 'kdump1',
        codec: 'zlib',
        threads: 1,
        peer: true,
        argv: () => ['makedumpfile', '-c', '-d', '1', input, fresh('m-z1.kd')],
        out: 'm-z1.kd',
      },
      {
        name: `makedumpfile -c -d 1 --num-threads ${T}`,
        kind: 'kdump1',
        codec: 'zlib',
        threads: T,
        peer: true,
        slow: true,
        argv: () => ['makedumpfile', '-c', '-d', '1', '--num-threads', String(T), input, fresh('m-z1-t.kd')],
        out: 'm-z1-t.kd',
      },
      {
        name: 'efikdump ELF -d 1 (zero pages dropped)',
        kind: 'elf1',
        argv: () => efik(['--format', 'elf', '--dump-level', '1'], 'e-elf1.vmcore'),
        out: 'e-elf1.vmcore',
      },
      {
        name: 'makedumpfile -E -d 1',
        kind: 'elf1',
        peer: true,
        argv: () => ['makedumpfile', '-E', '-d', '1', input, fresh('m-elf1.vmcore')],
        out: 'm-elf1.vmcore',
      },
      {
        name: `efikdump kdump zlib -d 31 --threads ${T}`,
        kind: 'kdump31',
        codec: 'zlib',
        threads: T,
        argv: () => efik(['--compress', 'zlib', '--dump-level', '31', '--threads', String(T)], 'e-z31.kd'),
        out: 'e-z31.kd',
      },
      {
        name: 'makedumpfile -c -d 31',
        kind: 'kdump31',
        codec: 'zlib',
        threads: 1,
        peer: true,
        argv: () => ['makedumpfile', '-c', '-d', '31', input, fresh('m-z31.kd')],
        out: 'm-z31.kd',
      },
    ].filter((c) => (haveMakedumpfile || !c.argv()[0].startsWith('makedumpfile')) && !(o.quick && c.slow));
    if (o.only) {
      const words = o.only.split(',');
      cases = cases.filter((c) => words.some((w) => c.name.includes(w)));
    }
    if (o.skip) {
      const words = o.skip.split(',');
      cases = cases.filter((c) => !words.some((w) => c.name.includes(w)));
    }
    // Rounds: every case once per round, in order, so that a burst of load elsewhere on the
    // machine falls on ours and on the peer alike (per-round ratios are reported besides medians).
    const runsOf = new Map(cases.map((c) => [c, []]));
    const failedWhy = new Map();
    const rounds = Number(o.repeat);
    // Load averages (1, 5, 15 min) at the start of each round and at the end: the conditions of the figures.
    const loads = [];
    const loadNow = () =>
      loadavg()
        .map((x) => x.toFixed(2))
        .join(' ');
    for (let k = 0; k < rounds; k++) {
      loads.push(`round ${k + 1} start: ${loadNow()} (${new Date().toISOString().slice(11, 19)} UTC)`);
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
    loads.push(`end: ${loadNow()} (${new Date().toISOString().slice(11, 19)} UTC)`);
    for (const c of cases) {
      if (failedWhy.has(c)) {
        rows.push({ case: c.name, kind: c.kind, threads: c.threads, peer: true, failed: failedWhy.get(c) });
        continue;
      }
      const runs = runsOf.get(c);
      const walls = runs.map((x) => x.wall_s).sort((a, b) => a - b);
      const cpu = runs.map((x) => x.user_s + x.sys_s).sort((a, b) => a - b);
      const m = {
        wall_s: walls[Math.floor(walls.length / 2)],
        cpu_s: cpu[Math.floor(cpu.length / 2)],
        max_rss_bytes: Math.max(...runs.map((x) => x.max_rss_bytes)),
        walls,
      };
      const size = c.out ? statSync(file(c.out)).size : 0;
      const row = {
        case: c.name,
        kind: c.kind,
        codec: c.codec,
        threads: c.threads,
        peer: !!c.peer,
        wall_s: m.wall_s,
        cpu_s: m.cpu_s,
        walls: m.walls,
        rounds: runs.map((x) => x.wall_s),
        mb_s: inputBytes / 1e6 / m.wall_s,
        output_bytes: size,
        peak_rss_mib: m.max_rss_bytes / MiB,
      };
      if (c.out && c.kind !== 'floor') {
        const v = check(input, file(c.out));
        row.check = v.text;
        if (!v.ok) failures.push(`${c.name}: ${v.text}`);
      }
      rows.push(row);
      if (
        !o.keep &&
        c.out &&
        c.kind !== 'floor' &&
        existsSync(file(c.out)) &&
        !['m-z1.kd', 'e-z1.kd', 'e-z1-t1.kd', 'e-elf1.vmcore'].includes(c.out)
      )
        unlinkSync(file(c.out));
    }
    const failedRows = rows.filter((r) => r.failed);
    for (const r of failedRows) rows.splice(rows.indexOf(r), 1);
    const find = (name) => rows.find((r) => r.case === name);
    const ratios = [];
    const push = (target, ours, peer, ratio, limit) => {
      if (ours && peer) ratios.push({ target, ours: ours.case, peer: peer.case, ratio: ratio(ours, peer), limit });
    };
    const wall = (a, b) => a.wall_s / b.wall_s;
    const size = (a, b) => a.output_bytes / b.output_bytes;
    const ourRow = (codec, level, t) => rows.find((x) => !x.peer && x.codec === codec && x.kind === `kdump${level}` && x.threads === t);
    const mdfL31 = find(headline);
    const mdfL1 = find('makedumpfile -l -d 1');
    const mdfC1 = find('makedumpfile -c -d 1');
    const mdfC31 = find('makedumpfile -c -d 31');
    // Issue 17: the distributions' default.
    push('lzo -d 31 wall ≤ 0.9 × makedumpfile -l -d 31, one thread', ourRow('lzo', 31, 1), mdfL31, wall, 0.9);
    push('lzo -d 31 output within 5 % of makedumpfile -l -d 31', ourRow('lzo', 31, 1), mdfL31, size, [0.95, 1.05]);
    const fastest31 = rows
      .filter((x) => !x.peer && x.kind === 'kdump31' && x.threads === threads && ['lzo', 'snappy', 'zstd'].includes(x.codec))
      .sort((a, b) => a.wall_s - b.wall_s)[0];
    if (threads > 1) {
      push(`fastest codec at ${threads} threads -d 31 wall ≤ 0.6 × makedumpfile -l -d 31`, fastest31, mdfL31, wall, 0.6);
      push(`the same, output no larger than makedumpfile -l -d 31`, fastest31, mdfL31, size, 1);
    }
    for (const t of [...new Set([1, threads])]) {
      push(`zstd -d 1 (level 1) output ≤ 0.8 × makedumpfile -c -d 1 (threads ${t})`, ourRow('zstd', 1, t), mdfC1, size, 0.8);
      push(`zstd -d 1 wall < makedumpfile -c -d 1 (threads ${t})`, ourRow('zstd', 1, t), mdfC1, wall, 1);
      push(`zstd -d 31 output vs makedumpfile -c -d 31 (informative, threads ${t})`, ourRow('zstd', 31, t), mdfC31, size);
      for (const codec of ['lzo', 'snappy']) {
        push(`${codec} -d 1 wall vs makedumpfile -l -d 1 (informative, threads ${t})`, ourRow(codec, 1, t), mdfL1, wall);
        push(`${codec} -d 1 output vs makedumpfile -l -d 1 (informative)`, ourRow(codec, 1, t), mdfL1, size);
        push(`${codec} -d 31 wall vs makedumpfile -l -d 31 (informative, threads ${t})`, ourRow(codec, 31, t), mdfL31, wall);
      }
    }
    // Issue 7: zlib and ELF.
    for (const r of rows.filter((x) => x.kind === 'kdump1' && !x.peer && x.codec === 'zlib')) {
      const peer = rows.find((x) => x.kind === 'kdump1' && x.peer && x.codec === 'zlib' && x.threads === r.threads);
      push('kdump zlib -d 1 wall ≤ 0.9 × makedumpfile at the same thread count', r, peer, wall, 0.9);
      if (r.threads !== 1) push('kdump zlib -d 1 wall vs single-threaded makedumpfile (informative)', r, mdfC1, wall);
      push('kdump zlib -d 1 output within 2 % of makedumpfile', r, mdfC1, size, [0.98, 1.02]);
    }
    const elf = find('efikdump ELF -d 1 (zero pages dropped)');
    if (elf) {
      push('ELF zero pages dropped ≤ 1.3 × cp', elf, find('cp (floor)'), wall, 1.3);
      push('ELF zero pages dropped vs cp + sync (informative: convert fsyncs, cp does not)', elf, find('cp + sync of the copy'), wall);
      const startup = find('efikdump start-up only (--help)');
      if (startup)
        ratios.push({
          target: 'ELF zero pages dropped less our start-up vs cp (informative: the work alone)',
          ours: elf.case,
          peer: 'cp (floor)',
          ratio: (elf.wall_s - startup.wall_s) / find('cp (floor)').wall_s,
        });
    }
    push(
      'kdump zlib -d 31 (informative)',
      rows.find((x) => x.kind === 'kdump31' && !x.peer && x.codec === 'zlib'),
      mdfC31,
      wall,
    );
    // Start-up (issue 17): seconds, not ratios.
    for (const [name, limit] of [
      ['efikdump start-up only (--help)', 0.15],
      ['efikdump --version', 0.15],
      ['efikdump designs', 0.15],
      ['efikdump convert, start to first read of the input', 0.2],
    ]) {
      const r = find(name);
      if (r) ratios.push({ target: `start-up wall s ≤ ${limit}`, ours: r.case, peer: '-', ratio: r.wall_s, limit });
    }
    for (const r of rows.filter((x) => x.case.startsWith('efikdump')))
      ratios.push({ target: 'peak RSS ≤ 256 MiB', ours: r.case, peer: '-', ratio: r.peak_rss_mib, limit: 256 });
    // Per-round ratios of wall times (both cases ran in the same round, minutes apart at most).
    const paired = (a, b) => {
      const ra = find(a)?.rounds;
      const rb = find(b)?.rounds;
      if (!ra || !rb || ra.length !== rb.length || ra.length < 2) return undefined;
      return ra.map((w, k) => w / rb[k]);
    };
    for (const r of ratios) {
      if (r.peer !== '-' && !r.target.includes('output') && !r.target.includes('less our start-up')) r.rounds = paired(r.ours, r.peer);
      if (r.target.includes('output')) r.rounds = undefined;
    }
    for (const r of ratios) {
      if (r.limit === undefined) r.met = '-';
      else
        r.met = Array.isArray(r.limit)
          ? r.ratio >= r.limit[0] && r.ratio <= r.limit[1]
            ? 'yes'
            : 'NO'
          : r.ratio <= r.limit
            ? 'yes'
            : 'NO';
    }
    const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, node ${process.version}`;
    if (o.json) {
      console.log(
        JSON.stringify(
          { machine, loads, input: { bytes: inputBytes, ram, mix: o.mix }, rows, ratios, failures, peersFailed: failedRows },
          null,
          2,
        ),
      );
    } else {
      console.log(`input: ${(inputBytes / MiB).toFixed(0)} MiB ELF vmcore (RAM ${ram}, mix ${o.mix}); ${machine}`);
      console.log(`load average (1 5 15 min): ${loads.join('; ')}`);
      console.table(
        rows.map((r) => ({
          case: r.case,
          'wall s (median)': r.wall_s.toFixed(2),
          'runs (by round)': r.rounds.map((w) => w.toFixed(2)).join(' '),
          'CPU s': r.cpu_s.toFixed(2),
          'MB/s': r.mb_s.toFixed(0),
          'output MiB': (r.output_bytes / MiB).toFixed(1),
          'peak RSS MiB': r.peak_rss_mib.toFixed(0),
          check: r.check ?? '',
        })),
      );
      console.table(
        ratios.map((r) => ({
          target: r.target,
          ours: r.ours,
          peer: r.peer,
          ratio: r.ratio.toFixed(3),
          'per round': r.rounds ? r.rounds.map((x) => x.toFixed(2)).join(' ') : '',
          met: r.met,
        })),
      );
      for (const r of failedRows) console.log(`peer failed (not counted): ${r.case}: ${r.failed}`);
      if (failures.length) console.log('FAILED CHECKS:\n' + failures.join('\n'));
    }
    if (failures.length) process.exitCode = 1;
  } finally {
    if (!o.keep) rmSync(dir, { recursive: true, force: true });
  }
}

main();
