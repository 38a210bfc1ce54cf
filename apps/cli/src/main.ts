import 'reflect-metadata';
import { isEfikdumpError } from '@efikdump/core';
import { runCommand, runSpec } from './commands/run';
import { designsCommand, scenariosCommand } from './commands/list';
import { inspectCommand, inspectSpec } from './commands/inspect';
import { verifyCommand, verifySpec } from './commands/verify';
import { processOutput, type Output } from './output';

const HELP = `efikdump — a laboratory for EFI-assisted kdump

usage: efikdump <command> [options]

commands:
  run        simulate one machine from boot to a verified dump      (${runSpec.usage.replace('efikdump ', '')})
  designs    list the built-in designs and the plug-ins they can name
  scenarios  list the built-in scenarios
  inspect    show what an ELF vmcore holds                           (${inspectSpec.usage.replace('efikdump ', '')})
  verify     check a dump against a truth manifest                   (${verifySpec.usage.replace('efikdump ', '')})
  help       this text; "efikdump <command> --help" for a command's options

Set EFIKDUMP_DEBUG=1 to see stack traces of internal errors.`;

/** Runs one command; returns the exit code (0 ok, 1 run without a complete dump, 2.. per error class). */
export async function main(argv: string[], io: Output = processOutput): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'run': return await runCommand(rest, io);
      case 'designs': return designsCommand(io);
      case 'scenarios': return scenariosCommand(io);
      case 'inspect': return inspectCommand(rest, io);
      case 'verify': return verifyCommand(rest, io);
      case undefined: case 'help': case '--help': case '-h':
        io.out(HELP);
        return command === undefined ? 2 : 0;
      default:
        io.err(`error: unknown command "${command}"\n\n${HELP}`);
        return 2;
    }
  } catch (e) {
    if (isEfikdumpError(e)) {
      io.err(`error: ${e.describe()}`);
      return e.exitCode;
    }
    io.err(`internal error: ${(e as Error)?.message ?? String(e)}`);
    if (process.env.EFIKDUMP_DEBUG === '1') io.err(String((e as Error)?.stack));
    return 70;
  }
}

/** Entry point of bin/efikdump.js. */
export function runCli(argv: string[]): void {
  // `efikdump inspect x | head` closes the pipe early: that is not an error.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw e;
    });
  }
  main(argv).then(
    (code) => { process.exitCode = code; },
    (e: unknown) => { process.stderr.write(`internal error: ${String(e)}\n`); process.exitCode = 70; },
  );
}
