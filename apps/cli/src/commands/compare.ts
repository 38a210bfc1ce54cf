import { checkOutputs, ConfigError } from '@efikdump/core';
import { availableParallelism } from 'node:os';
import { parseArgs, commandHelp, type CommandSpec, integerOption } from '../args';
import { builtinDesigns, builtinScenarios, loadDesign, loadScenario } from '../library';
import { pluginsFromCommandLine } from '../container';
import { processOutput, type Output } from '../output';
import { BACKENDS, createBackend } from '../compare/backend-factory';
import { SweepProgress } from '../compare/progress';
import { stableStringify } from '../compare/stats';
import { runSweep } from '../compare/sweep';
import { terminalTable } from '../compare/table';
import type { SweepInfo, SweepMatrix } from '../compare/types';
import { REPORT_FILES, writeReport } from '../compare/write-report';

export const compareSpec: CommandSpec = {
  name: 'compare',
  usage:
    'efikdump compare [--designs A,B,...] [--scenarios X,Y,...] [--runs N] [--seed BASE] [--workers N] [--backend local|threads|bullmq --redis URL [--queue NAME] [--resume ID]] --report DIR [--json]',
  summary:
    'Runs every (design, scenario, seed) and writes a report: outcome counts, success rate with its Wilson 95 % interval, fidelity, crash-to-dump time, NVRAM bytes, console. ' +
    'Every design and scenario is loaded, and --report checked, before the first run: DIR is created if absent and written into ' +
    '(the report files are replaced one by one, atomically; other files are kept); a DIR that is a file, unwritable, or holds an input is refused (exit 2).',
  positionals: [0, 0],
  options: [
    { name: 'designs', value: 'A,B,...', help: 'designs (names or files); default: every built-in design' },
    { name: 'scenarios', value: 'X,Y,...', help: 'scenarios (names or files); default: every built-in scenario' },
    { name: 'runs', value: 'N', help: 'runs per (design, scenario); run i has seed BASE + i', default: '10' },
    { name: 'seed', value: 'BASE', help: 'first seed', default: '1' },
    { name: 'backend', value: 'NAME', help: `where runs execute: ${BACKENDS.join(', ')}`, default: 'threads' },
    { name: 'workers', value: 'N', help: 'worker threads (threads backend)', default: 'the core count' },
    { name: 'redis', value: 'URL', help: 'Redis server of the bullmq backend (run `efikdump worker --redis URL` beside it)' },
    { name: 'queue', value: 'NAME', help: 'BullMQ queue name', default: 'efikdump-compare' },
    {
      name: 'resume',
      value: 'ID',
      help: 'bullmq: resume the sweep with this id (printed when it started) from the matrix kept in Redis; finished jobs are not run again',
    },
    {
      name: 'plugin',
      value: 'PKG[,PKG]',
      help: 'load plug-in packages (names or paths) besides the built-in ones and those the designs name, in every worker and backend; also EFIKDUMP_PLUGINS',
    },
    { name: 'report', value: 'DIR', help: 'write report.json, report.schema.json, report.md, report.html and timing.json here' },
    { name: 'json', help: 'print report.json to stdout; no progress, no table' },
    { name: 'help', help: 'show this help' },
  ],
};

const list = (v: string | true | undefined, name: string): string[] | undefined => {
  if (v === undefined) return undefined;
  const items =
    typeof v === 'string'
      ? v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : [];
  if (items.length === 0) throw new ConfigError(`--${name} needs at least one name`, { field: `--${name}` });
  return items;
};

export async function compareCommand(argv: string[], io: Output): Promise<number> {
  const { options } = parseArgs(compareSpec, argv);
  if (options.has('help')) {
    io.out(commandHelp(compareSpec));
    return 0;
  }
  const str = (k: string) => (typeof options.get(k) === 'string' ? (options.get(k) as string) : undefined);
  const reportDir = str('report');
  if (!reportDir) throw new ConfigError('--report DIR is required: where to write the report', { field: '--report' });
  const resume = options.get('resume');
  if (resume !== undefined) {
    if (typeof resume !== 'string') throw new ConfigError('--resume needs the sweep id', { field: '--resume' });
    if (str('backend') !== 'bullmq')
      throw new ConfigError('--resume works with --backend bullmq (the only backend that keeps results)', { field: '--resume' });
    const given = ['designs', 'scenarios', 'runs', 'seed'].find((k) => options.has(k));
    if (given) throw new ConfigError(`--resume takes the matrix from the stored sweep; do not give --${given}`, { field: `--${given}` });
  }
  const json = options.has('json');
  const workers = integerOption(options.get('workers'), 'workers', 1, 1024) ?? availableParallelism();
  let matrix: SweepMatrix;
  if (typeof resume === 'string') {
    const { loadSweepMatrix, DEFAULT_QUEUE } = require('../compare/bullmq.backend') as typeof import('../compare/bullmq.backend');
    matrix = await loadSweepMatrix(str('redis')!, str('queue') ?? DEFAULT_QUEUE, resume);
  } else {
    matrix = {
      designs: list(options.get('designs'), 'designs') ?? builtinDesigns().map((d) => d.name),
      scenarios: list(options.get('scenarios'), 'scenarios') ?? builtinScenarios().map((s) => s.name),
      runs: integerOption(options.get('runs'), 'runs', 1, 1_000_000) ?? 10,
      seedBase: integerOption(options.get('seed'), 'seed', 0, 0xffffffff) ?? 1,
    };
    const plugins = pluginsFromCommandLine(options.get('plugin'));
    if (plugins.length) matrix.plugins = plugins;
  }
  // Everything that can fail before the sweep fails now: unknown or unpaired designs, a report directory that cannot be written.
  const inputs = [
    ...matrix.designs.map((d) => ({ path: loadDesign(d, matrix.plugins ?? []).source, role: '--designs' })),
    ...matrix.scenarios.map((s) => ({ path: loadScenario(s).source, role: '--scenarios' })),
  ];
  checkOutputs([{ path: reportDir, role: '--report', dir: true, files: REPORT_FILES }], inputs);
  const backend = createBackend(str('backend') ?? 'threads', { workers, redis: str('redis'), queue: str('queue') });

  const progress = new SweepProgress(io, json ? 'silent' : io.tty ? 'tty' : 'plain');
  const onSweep = (s: SweepInfo) => {
    if (backend.name === 'bullmq' && !json)
      io.err(
        `compare: sweep ${s.id} on queue ${str('queue') ?? 'efikdump-compare'}; if this coordinator stops, resume with --resume ${s.id}`,
      );
  };
  const { report, timing } = await runSweep(matrix, backend, (d, t) => progress.update(d, t), {
    onSweep,
    ...(typeof resume === 'string' ? { expectId: resume } : {}),
  });
  const files = writeReport(reportDir, report, timing);
  if (json) {
    io.out(stableStringify(report).trimEnd());
    return 0;
  }
  const colour = io === processOutput && Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
  io.out(terminalTable(report, colour));
  io.out('');
  io.out(
    `${timing.jobs} runs on ${timing.backend} (${timing.workers ? `${timing.workers} worker${timing.workers === 1 ? '' : 's'}` : 'queue workers'}) in ${timing.wallSeconds.toFixed(1)} s, ${timing.runsPerSecond.toFixed(1)} runs/s`,
  );
  io.out(`report: ${files['report.html']}`);
  io.out(`        ${files['report.json']} (schema ${files['report.schema.json']}), ${files['report.md']}, ${files['timing.json']}`);
  return 0;
}
