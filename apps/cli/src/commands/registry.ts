import type { Output } from '../output';

/** One top-level command of `efikdump`. Add a command by adding one entry here. */
export interface CliCommand {
  name: string;
  /** One line for the help text. */
  summary: string;
  usage?: string;
  run(argv: string[], io: Output): number | Promise<number>;
}

type Run = CliCommand['run'];

/**
 * A command whose module (and the packages it imports) is loaded only when the command runs, so
 * that `efikdump --help` loads none and `convert` does not load the simulator's packages
 * (start-up: docs/performance.md). reflect-metadata comes first: the packages' plug-ins are
 * decorated classes.
 */
function lazy(load: () => Run): Run {
  return (argv, io) => {
    require('reflect-metadata');
    return load()(argv, io);
  };
}

/**
 * A command that reads and writes dump files only (`@efikdump/core/base`, `@efikdump/vmcore/files`):
 * no decorated classes, so no reflect-metadata either (14–37 ms of start-up measured).
 */
function lazyFiles(load: () => Run): Run {
  return (argv, io) => load()(argv, io);
}

// `typeof import(...)` keeps each command's type without loading its module here.
export const COMMANDS: CliCommand[] = [
  {
    name: 'run',
    summary: 'simulate one machine from boot to a verified dump',
    run: lazy(() => (require('./run') as typeof import('./run')).runCommand),
  },
  {
    name: 'designs',
    summary: 'list the built-in designs and the plug-ins they can name',
    run: lazyFiles(() => (_a, io) => (require('./designs') as typeof import('./designs')).designsCommand(io)),
  },
  {
    name: 'scenarios',
    summary: 'list the built-in scenarios',
    run: lazy(() => (_a, io) => (require('./list') as typeof import('./list')).scenariosCommand(io)),
  },
  {
    name: 'inspect',
    summary: 'show what a dump holds',
    run: lazyFiles(() => (require('./inspect') as typeof import('./inspect')).inspectCommand),
  },
  {
    name: 'verify',
    summary: 'check a dump against a truth manifest',
    run: lazy(() => (require('./verify') as typeof import('./verify')).verifyCommand),
  },
  {
    name: 'firmware',
    summary: "export a firmware profile's ACPI tables and variable store; list a store",
    run: lazy(() => (require('./firmware') as typeof import('./firmware')).firmwareCommand),
  },
  {
    name: 'convert',
    summary: 'filter and compress a vmcore as makedumpfile does (ELF or kdump-compressed)',
    run: lazyFiles(() => (require('./convert') as typeof import('./convert')).convertCommand),
  },
  {
    name: 'compare',
    summary: 'sweep designs × scenarios × seeds and write a report with charts',
    run: lazy(() => (require('./compare') as typeof import('./compare')).compareCommand),
  },
  {
    name: 'worker',
    summary: 'process compare runs from a BullMQ queue over Redis',
    run: lazy(() => (require('./worker') as typeof import('./worker')).workerCommand),
  },
  {
    name: 'lab',
    summary: 'run a design for real: OVMF and the stock kernel under QEMU, crash, warm reset, capture, dump',
    run: lazy(() => (require('./lab') as typeof import('./lab')).labCommand),
  },
  {
    name: 'dump',
    summary: 'offline (firmware-written) dumps: extract a vmcore from a GPT disk image, show its headers, make an empty disk',
    run: lazy(() => (require('./dump') as typeof import('./dump')).dumpCommand),
  },
  {
    name: 'probe',
    summary: 'measure what real firmware (OVMF under QEMU) overwrites in RAM across a reset',
    run: lazy(() => (require('./probe') as typeof import('./probe')).probeCommand),
  },
];
