import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const REPO = resolve(__dirname, '../../..');
export const BIN = join(REPO, 'apps/cli/bin/efikdump.js');
export const PYTHON = '/usr/bin/python3';

/** Runs the built CLI as a user would. */
export function efikdump(args: string[], timeoutMs = 600_000): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 });
}

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `efikdump-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Whether an external tool can run. Interop tests skip without it on a developer's machine, but
 * fail when EFIKDUMP_REQUIRE_INTEROP=1 (as .ci/run sets).
 */
export function toolAvailable(check: () => boolean, name: string): boolean {
  let ok = false;
  try {
    ok = check();
  } catch {
    ok = false;
  }
  if (!ok && process.env.EFIKDUMP_REQUIRE_INTEROP === '1') {
    throw new Error(`${name} is required (EFIKDUMP_REQUIRE_INTEROP=1) but is not available; .ci/run installs it`);
  }
  return ok;
}

export const hasCommand =
  (cmd: string, args: string[] = ['--version']) =>
  () =>
    spawnSync(cmd, args, { encoding: 'utf8' }).status === 0;
export const hasPythonModule = (mod: string) => () => spawnSync(PYTHON, ['-c', `import ${mod}`], { encoding: 'utf8' }).status === 0;

/**
 * Writes `healthy` with POST keeping all RAM (no scratch ranges, retention "ideal") into `dir` and
 * returns its path: for tests of a pipeline's files and formats, separated from what measured
 * firmware destroys (measured-firmware.test.ts tests that).
 */
export function keepsRamScenario(dir: string): string {
  const file = join(dir, 'healthy-ram-kept.json');
  writeFileSync(
    file,
    JSON.stringify({
      ...JSON.parse(readFileSync(join(REPO, 'apps/cli/scenarios/healthy.json'), 'utf8')),
      name: 'healthy-ram-kept',
      firmware: { scratch: [], retention: 'ideal' },
    }),
  );
  return file;
}
