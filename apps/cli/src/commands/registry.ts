import type { Output } from '../output';
import { runCommand, runSpec } from './run';
import { designsCommand, scenariosCommand } from './list';
import { inspectCommand, inspectSpec } from './inspect';
import { verifyCommand, verifySpec } from './verify';
import { firmwareCommand } from './firmware';
import { convertCommand, convertSpec } from './convert';
import { probeCommand, probeSpec } from './probe';
import { compareCommand, compareSpec } from './compare';
import { workerCommand, workerSpec } from './worker';
import { dumpCommand, dumpSpec } from './dump';

/** One top-level command of `efikdump`. Add a command by adding one entry here. */
export interface CliCommand {
  name: string;
  /** One line for the help text. */
  summary: string;
  usage?: string;
  run(argv: string[], io: Output): number | Promise<number>;
}

export const COMMANDS: CliCommand[] = [
  { name: 'run', summary: 'simulate one machine from boot to a verified dump', usage: runSpec.usage, run: runCommand },
  { name: 'designs', summary: 'list the built-in designs and the plug-ins they can name', run: (_a, io) => designsCommand(io) },
  { name: 'scenarios', summary: 'list the built-in scenarios', run: (_a, io) => scenariosCommand(io) },
  { name: 'inspect', summary: 'show what a dump holds', usage: inspectSpec.usage, run: inspectCommand },
  { name: 'verify', summary: 'check a dump against a truth manifest', usage: verifySpec.usage, run: verifyCommand },
  { name: 'firmware', summary: 'export a firmware profile\'s ACPI tables and variable store; list a store', usage: 'efikdump firmware <export|list|profiles> [options]', run: firmwareCommand },
  { name: 'convert', summary: 'filter and compress a vmcore as makedumpfile does (ELF or kdump-compressed)', usage: convertSpec.usage, run: convertCommand },
  { name: 'compare', summary: 'sweep designs × scenarios × seeds and write a report with charts', usage: compareSpec.usage, run: compareCommand },
  { name: 'worker', summary: 'process compare runs from a BullMQ queue over Redis', usage: workerSpec.usage, run: workerCommand },
  { name: 'dump', summary: 'extract, inspect or prepare firmware-written (OffCD-style) offline crash dumps on a GPT disk image', usage: dumpSpec.usage, run: dumpCommand },
  { name: 'probe', summary: 'measure what real firmware (OVMF under QEMU) overwrites in RAM across a reset', usage: probeSpec.usage, run: probeCommand },
];
