#!/usr/bin/env node
'use strict';
// Compares `efikdump run --json` between two built checkouts, for every design both have × the
// scenarios × the seeds: the same design, scenario and seed must give the same bytes and exit
// code. Used to show that a refactor changed no behaviour (the pre-refactor commit built into a
// separate directory, see docs/notes). Outputs of --base are kept in --cache so a second check
// after more changes only runs --head.
//
//   node tools/equivalence/run-json-diff.js --base /tmp/base --head . [--seeds 1,7]
//        [--scenarios a,b|all] [--designs a,b|all] [--jobs 2] [--cache DIR] [--ignore a.b,c]
// --ignore removes the named dotted fields from the head's JSON before comparing (a field the head
// adds on purpose, e.g. firmware.retentionPolicies); everything else must still be byte-identical.
// Without --head it only records the base's outputs into --cache.
// Exit 0 when every pair is identical, 1 when any differs, 2 on bad arguments.
const { spawn } = require('node:child_process');
const { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync, renameSync } = require('node:fs');
const { join, resolve } = require('node:path');

function parse(argv) {
  const o = { seeds: '1,7', scenarios: 'all', designs: 'all', jobs: '2' };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i];
    if (!k.startsWith('--') || argv[i + 1] === undefined) {
      process.stderr.write(`run-json-diff: expected --option value pairs, found "${k}"\n`);
      process.exit(2);
    }
    o[k.slice(2)] = argv[i + 1];
  }
  if (!o.base || (!o.head && !o.cache)) {
    process.stderr.write('run-json-diff: --base DIR and --head DIR (or --cache DIR alone, to record the base) are required\n');
    process.exit(2);
  }
  return o;
}

function names(dir, kind) {
  const d = join(dir, 'apps', 'cli', kind);
  return readdirSync(d)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(d, f), 'utf8')).name);
}

function pick(all, wanted) {
  if (wanted === 'all') return all;
  const list = wanted.split(',');
  for (const n of list)
    if (!all.includes(n)) {
      process.stderr.write(`run-json-diff: unknown name ${n}\n`);
      process.exit(2);
    }
  return list;
}

function runOnce(root, design, scenario, seed) {
  return new Promise((done) => {
    const bin = join(root, 'apps', 'cli', 'bin', 'efikdump.js');
    const child = spawn(process.execPath, [bin, 'run', '--json', '--design', design, '--scenario', scenario, '--seed', String(seed)], {
      cwd: root,
    });
    const out = [];
    const err = [];
    child.stdout.on('data', (b) => out.push(b));
    child.stderr.on('data', (b) => err.push(b));
    child.on('close', (code) => done({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  });
}

/** The head's stdout without the ignored fields, printed as the CLI prints JSON (2-space indent). */
function withoutIgnored(stdout, ignore) {
  if (!ignore.length || !stdout.trim().startsWith('{')) return stdout;
  const doc = JSON.parse(stdout);
  for (const path of ignore) {
    const keys = path.split('.');
    let o = doc;
    for (const k of keys.slice(0, -1)) o = o && typeof o === 'object' ? o[k] : undefined;
    if (o && typeof o === 'object') delete o[keys[keys.length - 1]];
  }
  return JSON.stringify(doc, null, 2) + '\n';
}

function firstDifference(a, b) {
  const x = a.split('\n');
  const y = b.split('\n');
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if (x[i] !== y[i]) return `line ${i + 1}: base ${JSON.stringify(x[i] ?? null)} / head ${JSON.stringify(y[i] ?? null)}`;
  }
  return 'identical';
}

async function main() {
  const o = parse(process.argv.slice(2));
  const base = resolve(o.base);
  const head = resolve(o.head ?? o.base);
  const recordOnly = !o.head;
  const designs = pick(
    names(base, 'designs').filter((n) => names(head, 'designs').includes(n)),
    o.designs,
  );
  const scenarios = pick(
    names(base, 'scenarios').filter((n) => names(head, 'scenarios').includes(n)),
    o.scenarios,
  );
  const seeds = o.seeds.split(',').map(Number);
  const ignore = o.ignore ? o.ignore.split(',') : [];
  const cache = o.cache ? resolve(o.cache) : undefined;
  if (cache && !existsSync(cache)) mkdirSync(cache, { recursive: true });
  const jobs = [];
  for (const d of designs) for (const s of scenarios) for (const seed of seeds) jobs.push({ d, s, seed });
  let next = 0;
  let same = 0;
  const differ = [];
  const worker = async () => {
    while (next < jobs.length) {
      const { d, s, seed } = jobs[next++];
      const key = cache && join(cache, `${d}__${s}__${seed}.json`);
      let b;
      if (key && existsSync(key)) b = JSON.parse(readFileSync(key, 'utf8'));
      else {
        b = await runOnce(base, d, s, seed);
        if (key) {
          writeFileSync(`${key}.tmp`, JSON.stringify(b));
          renameSync(`${key}.tmp`, key);
        }
      }
      if (recordOnly) {
        same++;
        continue;
      }
      const h = await runOnce(head, d, s, seed);
      h.stdout = withoutIgnored(h.stdout, ignore);
      if (b.code === h.code && b.stdout === h.stdout) same++;
      else
        differ.push(
          `${d} × ${s} × seed ${seed}: exit ${b.code}/${h.code}; ${firstDifference(b.stdout, h.stdout)}${h.stderr ? `; head stderr: ${h.stderr.trim().split('\n')[0]}` : ''}`,
        );
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Number(o.jobs) || 1) }, worker));
  process.stdout.write(
    `${designs.length} designs × ${scenarios.length} scenarios × ${seeds.length} seeds = ${jobs.length} runs: ${same} identical, ${differ.length} different\n`,
  );
  for (const line of differ) process.stdout.write(`  DIFF ${line}\n`);
  process.exit(differ.length ? 1 : 0);
}

main();
