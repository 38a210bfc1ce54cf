import {
  checkOutputs,
  createRun,
  formatSize,
  parseSize,
  withComponentOptions,
  ConfigError,
  TRUTH_MAX_PAGES,
  type CommandPath,
  type RunEvent,
} from '@efikdump/core';
import { parseCompression } from '@efikdump/vmcore';
import { parseArgs, commandHelp, type CommandSpec, integerOption } from '../args';
import { createContainer, pluginsFromCommandLine } from '../container';
import { loadDesign, loadScenario } from '../library';
import { formatEvent, type Output } from '../output';

export const runSpec: CommandSpec = {
  name: 'run',
  usage:
    'efikdump run --design D [--scenario S] [--seed N] [--memory SIZE] [--cpus N] [--out FILE] [--truth FILE] [--dump-level N] [--compress C] [--threads N] [--artifacts DIR] [--json]',
  summary:
    'Simulates one machine from boot to a dump: panic, exit path, firmware, stub, capture kernel, dump, verification against the truth. ' +
    'Outputs are checked before the run: an output that is also an input (the design or scenario file, through a symlink or a hard link too) ' +
    'or another output is refused (exit 2), and an existing output file is replaced only when it is a regular file this user can write. ' +
    "--artifacts DIR is created if absent and written into; other files in it are kept. Options the design's writer ignores are refused (exit 2).",
  positionals: [0, 0],
  options: [
    { name: 'design', value: 'NAME|FILE', help: 'design to run (efikdump designs lists them)', default: 'efi-warm-reserved-memory' },
    { name: 'scenario', value: 'NAME|FILE', help: 'scenario: machine, workload, faults', default: 'healthy' },
    { name: 'seed', value: 'N', help: 'seed of every random choice (0..4294967295)', default: '1' },
    { name: 'memory', value: 'SIZE', help: 'RAM size, e.g. 4GiB, 1TiB (overrides the scenario)' },
    { name: 'cpus', value: 'N', help: 'CPU count (overrides the scenario)' },
    {
      name: 'out',
      value: 'FILE',
      help: 'write the dump here (written under a temporary name, renamed when complete; replaces only a writable regular file)',
    },
    { name: 'truth', value: 'FILE', help: 'write the truth manifest here (atomically; replaces only a writable regular file)' },
    { name: 'truth-pages', value: 'N', help: 'non-zero pages sampled into the truth', default: '1024' },
    {
      name: 'dump-level',
      value: 'N',
      help: "makedumpfile's dump level for the writer (0-31; elf: drop excluded pages as -E; kdump-compressed defaults to 31); overrides the design's components.writer.options.dumpLevel",
    },
    {
      name: 'compress',
      value: 'zlib|lzo|zstd|snappy|none',
      help: 'page compression of the kdump-compressed writer (default zlib; overrides its compress option); refused with the elf writer',
    },
    {
      name: 'threads',
      value: 'N',
      help: 'compression threads of the kdump-compressed writer (overrides its threads option); refused with the elf writer',
    },
    {
      name: 'artifacts',
      value: 'DIR',
      help: 'write what the handoff transport stored (efivarfs files, persistent zone, CPER record, BERT/ERST tables, DTB, handoff.json) into DIR, each file atomically; DIR is created if absent, other files in it are kept',
    },
    {
      name: 'plugin',
      value: 'PKG[,PKG]',
      help: 'load plug-in packages (names or paths) besides the built-in ones and those the design names; also EFIKDUMP_PLUGINS',
    },
    { name: 'json', help: 'print the RunResult as JSON instead of the timeline' },
    { name: 'help', help: 'show this help' },
  ],
};

export async function runCommand(argv: string[], io: Output): Promise<number> {
  const { options } = parseArgs(runSpec, argv);
  if (options.has('help')) {
    io.out(commandHelp(runSpec));
    return 0;
  }
  const str = (k: string) => (typeof options.get(k) === 'string' ? (options.get(k) as string) : undefined);
  const commandLinePlugins = pluginsFromCommandLine(options.get('plugin'));
  const loaded = loadDesign(str('design') ?? 'efi-warm-reserved-memory', commandLinePlugins);
  const scenario = loadScenario(str('scenario') ?? 'healthy');
  const seed = integerOption(options.get('seed'), 'seed', 0, 0xffffffff) ?? 1;
  const memory = str('memory');
  const ramBytes = memory === undefined ? undefined : parseSize(memory, '--memory');
  const cpus = integerOption(options.get('cpus'), 'cpus', 1, 1024);
  const truthPages = integerOption(options.get('truth-pages'), 'truth-pages', 1, TRUTH_MAX_PAGES);
  const json = options.has('json');
  const dumpLevel = integerOption(options.get('dump-level'), 'dump-level', 0, 31);
  const threads = integerOption(options.get('threads'), 'threads', 1, 256);
  const compress = str('compress');
  const out = str('out');
  const truth = str('truth');
  const artifactsDir = str('artifacts');

  // Everything the writer would refuse or ignore is refused now, not after the simulation.
  const [writer] = loaded.components.writer;
  if (writer === 'elf') {
    for (const [name, value] of [
      ['compress', compress],
      ['threads', threads],
    ] as const) {
      if (value !== undefined)
        throw new ConfigError(
          `the design's writer "elf" holds pages uncompressed and ignores --${name}; drop it or use a design with the kdump-compressed writer`,
          { file: loaded.source, field: `--${name}` },
        );
    }
  } else if (compress !== undefined) {
    parseCompression(compress, '--compress');
  }
  // --dump-level, --compress and --threads override the writer component's options of the design.
  const design = withComponentOptions(loaded, 'writer', {
    ...(dumpLevel !== undefined ? { dumpLevel } : {}),
    ...(compress !== undefined ? { compress } : {}),
    ...(threads !== undefined ? { threads } : {}),
  });
  const outputs: CommandPath[] = [];
  if (out) outputs.push({ path: out, role: '--out' });
  if (truth) outputs.push({ path: truth, role: '--truth' });
  if (artifactsDir) outputs.push({ path: artifactsDir, role: '--artifacts', dir: true, files: ['handoff.json', 'disk.img'] });
  const inputs: CommandPath[] = [
    { path: design.source, role: '--design' },
    { path: scenario.source, role: '--scenario' },
  ];
  const profile = design.firmware?.profile;
  if (profile && (profile.includes('/') || profile.endsWith('.json')))
    inputs.push({ path: profile, role: "the design's firmware.profile" });
  checkOutputs(outputs, inputs);

  const plugins = [...commandLinePlugins, ...(design.plugins ?? [])];
  const run = createRun(createContainer(plugins), {
    design,
    scenario,
    seed,
    ramBytes,
    cpus,
    options: { out, truth, artifactsDir, ...(truthPages ? { truthPages } : {}) },
  });
  let lastProgress = '';
  run.events$.subscribe((e: RunEvent) => {
    if (json) return;
    if (e.kind === 'progress') {
      const done = Number(e.data?.done ?? 0);
      const total = Number(e.data?.total ?? 1);
      const line = `${e.stage}: ${formatSize(done)} / ${formatSize(total)} (${Math.floor((100 * done) / total)} %)`;
      if (io.tty) io.err(`\x1b[1A\x1b[2K${line}`);
      else if (line !== lastProgress) io.err(line);
      lastProgress = line;
      return;
    }
    if (e.kind !== 'start' && e.kind !== 'end') io.out(formatEvent(e));
  });
  const result = await run.start();
  if (json) {
    io.out(JSON.stringify(result, null, 2));
  } else {
    io.out('');
    io.out(`outcome: ${result.outcome} — ${result.reason}`);
    io.out(
      `design ${result.design}, scenario ${result.scenario}, seed ${result.seed}, ${formatSize(result.ramBytes)} RAM, ${result.cpus} CPUs`,
    );
    if (result.metrics.fidelity !== undefined)
      io.out(`fidelity: ${result.metrics.pagesMatched}/${result.metrics.pagesChecked} sampled pages`);
    for (const [k, v] of Object.entries(result.artifacts)) io.out(`${k}: ${v}`);
  }
  return result.outcome === 'dump-complete' ? 0 : 1;
}
