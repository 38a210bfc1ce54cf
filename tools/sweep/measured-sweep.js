#!/usr/bin/env node
'use strict';
// The issue-13 acceptance sweep by hand: the footprint-aware designs (with and without quarantine)
// on the default measured `ovmf` profile, every size × scenario × seed, in-process on the built CLI.
// Prints one line per design × size with the outcome counts, the kernel pages lost and the RAM
// withheld, then every run that is not a success (no-dump, dump-corrupt, ... with its reason).
//
//   node tools/sweep/measured-sweep.js [--seeds 20] [--designs a,b] [--sizes 256MiB,1GiB] [--scenarios a,b]
const { join } = require('node:path');
const { main } = require(join(__dirname, '../../apps/cli/dist/main.js'));

const opts = {
  seeds: '20',
  designs:
    'efi-warm-reserved-memory-footprint-aware,efi-warm-reserved-memory-footprint-aware-quarantine,efi-warm-efivar-footprint-aware,efi-warm-efivar-footprint-aware-quarantine',
  sizes: '256MiB,1GiB,4GiB,64GiB',
  scenarios: 'healthy,iommu-inflight-dma,no-serial-console,nvram-nearly-full',
};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  const key = argv[i].replace(/^--/, '');
  if (!(key in opts) || argv[i + 1] === undefined) {
    process.stderr.write(`measured-sweep: unknown option ${argv[i]}\n`);
    process.exit(2);
  }
  opts[key] = argv[i + 1];
}

async function runJson(args) {
  const out = [];
  const io = { tty: false, out: (l) => out.push(l), err: () => undefined };
  const code = await main(['run', ...args, '--json'], io);
  return { code, result: JSON.parse(out.join('\n')) };
}

(async () => {
  const seeds = Number(opts.seeds);
  const odd = [];
  for (const design of opts.designs.split(',')) {
    for (const size of opts.sizes.split(',')) {
      const counts = {};
      let lost = 0;
      let withheld = 0;
      let runs = 0;
      for (const scenario of opts.scenarios.split(',')) {
        for (let seed = 1; seed <= seeds; seed++) {
          const { result } = await runJson(['--design', design, '--scenario', scenario, '--memory', size, '--seed', String(seed)]);
          counts[result.outcome] = (counts[result.outcome] ?? 0) + 1;
          runs++;
          lost = Math.max(lost, result.metrics.pagesLost ?? 0);
          withheld = result.metrics.ramWithheldPercent ?? withheld;
          if (
            !['dump-complete', 'dump-partial'].includes(result.outcome) ||
            result.metrics.sampledPagesUndeclared ||
            result.metrics.pagesChangedUndeclared
          ) {
            odd.push(`${design} ${size} ${scenario} seed ${seed}: ${result.outcome}: ${result.reason}`);
          }
        }
      }
      const shown = Object.entries(counts)
        .sort()
        .map(([k, v]) => `${k} ${v}`)
        .join(', ');
      process.stdout.write(`${design} ${size}: ${runs} runs: ${shown}; max kernel pages lost ${lost}; RAM withheld ${withheld} %\n`);
    }
  }
  process.stdout.write(`not a success (${odd.length}):\n`);
  const grouped = new Map();
  for (const line of odd) {
    const key = line.replace(/ seed \d+:/, ':');
    grouped.set(key, (grouped.get(key) ?? 0) + 1);
  }
  for (const [line, n] of grouped) process.stdout.write(`  ${n} × ${line}\n`);
})();
