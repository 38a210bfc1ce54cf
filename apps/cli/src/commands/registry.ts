import type { Output } from '../output';
import { runCommand, runSpec } from './run';
import { designsCommand, scenariosCommand } from './list';
import { inspectCommand, inspectSpec } from './inspect';
import { verifyCommand, verifySpec } from './verify';

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
];
