// Nothing heavy at the top: each command loads its own modules (commands/registry.ts), so that
// --help and --version load no package (start-up: docs/performance.md).
import { COMMANDS } from './commands/registry';
import { processOutput, type Output } from './output';

/** The version of the efikdump CLI (its package.json). */
export function cliVersion(): string {
  return (require('../package.json') as { version: string }).version;
}

function helpText(): string {
  const lines = ['efikdump — a laboratory for EFI-assisted kdump', '', 'usage: efikdump <command> [options]', '', 'commands:'];
  for (const c of COMMANDS) lines.push(`  ${c.name.padEnd(11)}${c.summary}`);
  lines.push(`  ${'help'.padEnd(11)}this text; "efikdump <command> --help" shows a command's options`);
  lines.push(`  ${'--version'.padEnd(11)}the version of efikdump`);
  lines.push('', 'Set EFIKDUMP_DEBUG=1 to see stack traces of internal errors.');
  return lines.join('\n');
}

/** Runs one command; returns the exit code (0 ok, 1 run without a complete dump, 2.. per error class). */
export async function main(argv: string[], io: Output = processOutput): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
      io.out(helpText());
      return name === undefined ? 2 : 0;
    }
    if (name === '--version' || name === '-V' || name === 'version') {
      io.out(`efikdump ${cliVersion()}`);
      return 0;
    }
    const command = COMMANDS.find((c) => c.name === name);
    if (!command) {
      io.err(`error: unknown command "${name}"\n\n${helpText()}`);
      return 2;
    }
    return await command.run(rest, io);
  } catch (e) {
    const { isEfikdumpError } = require('@efikdump/core/base') as typeof import('@efikdump/core/base');
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
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`internal error: ${String(e)}\n`);
      process.exitCode = 70;
    },
  );
}
