import { main } from '../src/main';
import type { Output } from '../src/output';

/** An Output that keeps what the CLI prints, for tests that call main() in-process. */
export function capture(): Output & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, tty: false, out: (l) => stdout.push(l), err: (l) => stderr.push(l) };
}

/** `efikdump run ARGS --json` in-process: the exit code and the parsed RunResult. */
export async function runJson(args: string[]) {
  const io = capture();
  const code = await main(['run', ...args, '--json'], io);
  return { code, result: JSON.parse(io.stdout.join('\n')), stderr: io.stderr.join('\n') };
}
