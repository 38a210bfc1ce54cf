import { formatDuration, type RunEvent } from '@efikdump/core';

/** Where the CLI writes: stdout for results, stderr for progress; both replaceable in tests. */
export interface Output {
  out(line: string): void;
  err(line: string): void;
  /** True when stderr is a terminal (progress may redraw one line). */
  readonly tty: boolean;
}

export const processOutput: Output = {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
  tty: Boolean(process.stderr.isTTY),
};

/** One timeline line: virtual time, stage, message. */
export function formatEvent(e: RunEvent): string {
  return `[${formatDuration(e.tUs).padStart(12)}] ${e.stage.padEnd(16)} ${e.message}`;
}
