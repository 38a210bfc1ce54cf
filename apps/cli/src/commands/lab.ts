import { join } from 'node:path';
import { ConfigError, formatSize, parseSize } from '@efikdump/core';
import { commandHelp, parseArgs, type CommandSpec, integerOption } from '../args';
import { defaultLabCacheDir } from '../lab/lab-environment';
import { killAllLabMachines } from '../lab/lab-machine';
import { compareWithSimulator } from '../lab/lab-compare';
import { LAB_DESIGNS, defaultLabWorkDir, runLabCycle, type LabDesign, type LabDumpFormat, type LabResult } from '../lab/lab-run';
import type { Output } from '../output';

export const labSpec: CommandSpec = {
  name: 'lab',
  usage:
    'efikdump lab compare DIR [--sim-design NAME] | efikdump lab run --design efi-warm-efivar [--memory 1GiB] [--kaslr on|off] [--action crash|reboot] [--pattern MIB] [--seed N] [--dump-level N] [--format elf|kdump-zlib|kdump-lzo] [--out DIR]',
  summary:
    "Runs the design for real: OVMF and the stock Debian kernel under QEMU (TCG), efikdump's UEFI loader in the stub's role. The 1st kernel arms the handoff " +
    "(EFI variables), writes a seeded pattern and panics; reboot=efi,warm makes the panic a ResetSystem(EfiResetWarm); the loader sees efi-pstore's records, " +
    'validates the handoff, pins the old memory and starts the capture kernel with memmap=exactmap; makedumpfile writes the dump to a virtio disk. ' +
    'Leaves serial.log, timeline.json, the dump, truth.json, footprint.json (RAM changed between the reset and loader entry) and result.json in --out.',
  positionals: [1, 2],
  options: [
    { name: 'design', value: 'NAME', help: `design to run (${LAB_DESIGNS.join(', ')})`, default: 'efi-warm-efivar' },
    { name: 'memory', value: 'SIZE', help: 'guest RAM, 512MiB to 2GiB', default: '1GiB' },
    { name: 'kaslr', value: 'on|off', help: "the 1st kernel's KASLR", default: 'on' },
    {
      name: 'action',
      value: 'crash|reboot',
      help: 'what the 1st kernel does once armed (reboot: a clean reboot -f, which must boot normally)',
      default: 'crash',
    },
    {
      name: 'pattern',
      value: 'MIB',
      help: 'seeded pattern the 1st kernel writes and the verdict checks (0: none)',
      default: 'a quarter of --memory',
    },
    { name: 'seed', value: 'N', help: 'pattern seed', default: '7' },
    {
      name: 'dump-level',
      value: 'N',
      help: "makedumpfile's -d in the capture kernel (user pages must stay for the pattern check)",
      default: '1',
    },
    { name: 'format', value: 'elf|kdump-zlib|kdump-lzo', help: 'dump format (design efi-warm-efivar writes ELF)', default: 'elf' },
    { name: 'out', value: 'DIR', help: 'output folder', default: 'out/lab/<design>-<memory>-kaslr-<on|off>' },
    { name: 'cache', value: 'DIR', help: 'where built images are kept (content-hashed)', default: '$XDG_CACHE_HOME/efikdump/lab' },
    {
      name: 'work-dir',
      value: 'DIR',
      help: 'guest RAM file, its snapshot and the data disk during the run',
      default: '/dev/shm when it has room, else the temporary directory',
    },
    { name: 'timeout', value: 'SECONDS', help: 'wall-clock limit of the cycle', default: '600' },
    {
      name: 'footprint-from',
      value: 'FILE|none',
      help: 'footprint.json of an earlier run: the loader declares its ranges lost',
      default: 'tools/lab/footprints/ovmf-<memory>MiB.json if present',
    },
    { name: 'no-footprint', help: 'skip the RAM snapshots at the reset and at loader entry' },
    { name: 'keep-work-dir', help: 'keep the work files (RAM image, data disk) for inspection' },
    {
      name: 'sim-design',
      value: 'NAME|FILE',
      help: 'lab compare: the simulated design to hold against the real run',
      default: "the real run's design",
    },
    { name: 'json', help: 'print result.json (compare: compare.json) instead of the summary' },
    { name: 'help', help: 'show this help' },
  ],
};

function oneOf<T extends string>(value: string | true | undefined, name: string, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !allowed.includes(value as T))
    throw new ConfigError(`--${name} expects ${allowed.join(', ')}, found "${String(value)}"`, { field: `--${name}` });
  return value as T;
}

function summary(r: LabResult, io: Output): void {
  io.out(`outcome: ${r.outcome} — ${r.reason}`);
  io.out(`design ${r.design}, ${formatSize(r.memoryBytes)}, KASLR ${r.kaslr ? 'on' : 'off'}, action ${r.action}`);
  const d = r.durations;
  io.out(
    `wall time ${(d.total / 1000).toFixed(1)} s${d.panicToDumpMs !== undefined ? `; panic to dump written ${(d.panicToDumpMs / 1000).toFixed(1)} s` : ''}${d.resetToLoaderMs !== undefined ? `; reset to loader ${(d.resetToLoaderMs / 1000).toFixed(1)} s` : ''}`,
  );
  if (r.footprint)
    io.out(`firmware footprint: ${r.footprint.pages} pages changed between the reset and loader entry (${r.footprint.file})`);
  if (r.pattern)
    io.out(
      `pattern: ${r.pattern.intact}/${r.pattern.pages} pages intact, ${r.pattern.declaredLost} declared lost, ${r.pattern.filtered} filtered, ${r.pattern.missing} missing, ${r.pattern.mismatched} differ`,
    );
  if (r.lostRanges.length) io.out(`lost ranges declared by the loader: ${r.lostRanges.map((l) => `[${l.start}, ${l.end})`).join(' ')}`);
  for (const [name, path] of Object.entries(r.files)) io.out(`${name}: ${path}`);
}

export async function labCommand(argv: string[], io: Output): Promise<number> {
  const { options, positionals } = parseArgs(labSpec, argv);
  if (options.has('help')) {
    io.out(commandHelp(labSpec));
    return 0;
  }
  const str = (k: string) => (typeof options.get(k) === 'string' ? (options.get(k) as string) : undefined);
  if (positionals[0] === 'compare') {
    if (positionals.length !== 2)
      throw new ConfigError(`lab compare needs the output folder of a lab run; usage: ${labSpec.usage}`, { field: 'lab compare' });
    const c = await compareWithSimulator(positionals[1], str('sim-design'));
    if (options.has('json')) io.out(JSON.stringify(c, null, 2));
    else {
      io.out(
        `real run ${c.realRun} against simulated design ${c.simulatedDesign} (${formatSize(c.memoryBytes)}, seed ${c.seed}, scenario healthy)`,
      );
      const w = [Math.max(4, ...c.rows.map((r) => r.what.length)), 12, 12];
      io.out(`${'what'.padEnd(w[0])}  ${'simulated'.padStart(w[1])}  ${'real'.padStart(w[2])}  agreement`);
      for (const r of c.rows)
        io.out(`${r.what.padEnd(w[0])}  ${String(r.simulated).padStart(w[1])}  ${String(r.real).padStart(w[2])}  ${r.agreement}`);
      if (c.footprintOverlap) {
        const f = c.footprintOverlap;
        io.out(
          `footprint: ${f.bothPages} of ${f.realPages} really changed pages predicted in place, ${f.missedPages} missed, ${f.extraPages} predicted but unchanged`,
        );
      }
      io.out(`wrote ${c.realRun}compare.json`.replace('//', '/'));
    }
    return 0;
  }
  if (positionals[0] !== 'run' || positionals.length !== 1)
    throw new ConfigError(`Unknown lab command: ${positionals.join(' ')} (known: run, compare DIR)`, { field: 'lab' });
  const design = oneOf<LabDesign>(options.get('design'), 'design', LAB_DESIGNS, 'efi-warm-efivar');
  const memoryBytes = parseSize(str('memory') ?? '1GiB', '--memory');
  const kaslr = oneOf(options.get('kaslr'), 'kaslr', ['on', 'off'] as const, 'on') === 'on';
  const action = oneOf(options.get('action'), 'action', ['crash', 'reboot'] as const, 'crash');
  const format = oneOf<LabDumpFormat>(options.get('format'), 'format', ['elf', 'kdump-zlib', 'kdump-lzo'], 'elf');
  const patternMiB = integerOption(options.get('pattern'), 'pattern', 0, 1024) ?? Math.floor(memoryBytes / (4 * 1024 * 1024));
  const outDir =
    str('out') ??
    join(
      'out',
      'lab',
      `${design}-${formatSize(memoryBytes).replace(/\s/g, '')}-kaslr-${kaslr ? 'on' : 'off'}${action === 'reboot' ? '-reboot' : ''}`,
    );

  const onSignal = (signal: NodeJS.Signals) => {
    const n = killAllLabMachines();
    io.err(`efikdump lab: ${signal}${n ? `, stopped ${n} QEMU process${n === 1 ? '' : 'es'}` : ''}`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let result: LabResult;
  try {
    result = await runLabCycle({
      design,
      memoryBytes,
      kaslr,
      action,
      patternMiB,
      seed: integerOption(options.get('seed'), 'seed', 0, 0xffffffff) ?? 7,
      dumpLevel: integerOption(options.get('dump-level'), 'dump-level', 0, 31) ?? 1,
      format,
      outDir,
      cacheDir: str('cache') ?? defaultLabCacheDir(),
      workDir: str('work-dir') ?? defaultLabWorkDir(memoryBytes),
      timeoutMs: (integerOption(options.get('timeout'), 'timeout', 30, 7200) ?? 600) * 1000,
      footprint: !options.has('no-footprint'),
      truthSample: 4096,
      keepWork: options.has('keep-work-dir'),
      footprintFrom: str('footprint-from'),
      onProgress: (line) => io.err(`lab: ${line}`),
    });
  } finally {
    killAllLabMachines();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (options.has('json')) io.out(JSON.stringify(result, null, 2));
  else summary(result, io);
  const expected = action === 'reboot' ? ['normal-boot'] : ['dump-complete', 'dump-partial'];
  return expected.includes(result.outcome) ? 0 : 1;
}
