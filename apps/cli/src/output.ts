import type { RunEvent } from '@efikdump/core';

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

// Loaded on first use, not at the top: main imports this module and must not load @efikdump/core.
let core: typeof import('@efikdump/core') | undefined;

/** One timeline line: virtual time, stage, message. */
export function formatEvent(e: RunEvent): string {
  const { formatDuration } = (core ??= require('@efikdump/core') as typeof import('@efikdump/core'));
  return `[${formatDuration(e.tUs).padStart(12)}] ${e.stage.padEnd(16)} ${e.message}`;
}
