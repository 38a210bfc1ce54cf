import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { efikdump, REPO } from './helpers';

// Start-up: the built CLI loads only what a command needs (the times are in docs/performance.md;
// tests assert what is loaded, not how long it takes).

/** The modules the built CLI has loaded after running `argv` in-process (paths below the repository). */
function loadedBy(argv: string[]): string[] {
  const script = `
    const { main } = require(${JSON.stringify(join(REPO, 'apps/cli/dist/main.js'))});
    const io = { out() {}, err() {}, tty: false };
    Promise.resolve(main(${JSON.stringify(argv)}, io)).then((code) => {
      process.stdout.write(JSON.stringify({ code, modules: Object.keys(require.cache) }));
    });`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', cwd: REPO });
  if (r.status !== 0) throw new Error(`node exited ${r.status}: ${r.stderr}`);
  const { code, modules } = JSON.parse(r.stdout) as { code: number; modules: string[] };
  expect(code).toBe(0);
  return modules.map((m) => m.slice(REPO.length + 1));
}

const packageOf = (path: string): string | undefined =>
  /^packages\/([^/]+)\//.exec(path)?.[1] ?? /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path)?.[1];

test('--version prints the version of the CLI package', () => {
  const r = efikdump(['--version']);
  expect(r.status).toBe(0);
  const { version } = JSON.parse(readFileSync(join(REPO, 'apps/cli/package.json'), 'utf8')) as { version: string };
  expect(r.stdout.trim()).toBe(`efikdump ${version}`);
});

test("--help and --version load no package, only the CLI's main, output and command registry", () => {
  for (const argv of [['--help'], ['--version']]) {
    const loaded = loadedBy(argv);
    expect(loaded.filter((m) => packageOf(m))).toEqual([]);
    expect(loaded.filter((m) => m.startsWith('apps/cli/dist/')).sort()).toEqual([
      'apps/cli/dist/commands/registry.js',
      'apps/cli/dist/main.js',
      'apps/cli/dist/output.js',
    ]);
  }
});

test("convert loads core's and vmcore's light entries only: no DI or RxJS, not the simulator's packages or BullMQ", () => {
  const loaded = loadedBy(['convert', '--help']);
  const packages = new Set(loaded.map(packageOf).filter(Boolean));
  expect(packages).toContain('core');
  expect(packages).toContain('vmcore');
  expect(loaded).toContain('packages/core/dist/base.js');
  expect(loaded).toContain('packages/vmcore/dist/files.js');
  expect(loaded).not.toContain('packages/core/dist/index.js');
  expect(loaded).not.toContain('packages/vmcore/dist/index.js');
  for (const unwanted of [
    'rxjs',
    'tsyringe',
    'reflect-metadata',
    'firmware-uefi',
    'kernel-crash',
    'transports',
    'stub',
    'bullmq',
    'ioredis',
    '@bokuweb/zstd-wasm',
    'snappy-wasm',
  ]) {
    expect(packages).not.toContain(unwanted);
  }
});

test('inspect loads the same light entries (no DI, no RxJS)', () => {
  // `inspect --help` prints its help after its module and imports are loaded.
  const packages = new Set(loadedBy(['inspect', '--help']).map(packageOf).filter(Boolean));
  expect(packages).toContain('vmcore');
  for (const unwanted of ['rxjs', 'tsyringe', 'reflect-metadata', 'firmware-uefi', 'kernel-crash', 'transports', 'stub'])
    expect(packages).not.toContain(unwanted);
});

test("designs reads the build's catalog: it loads no package at all", () => {
  const loaded = loadedBy(['designs']);
  expect(loaded.filter((m) => packageOf(m))).toEqual([]);
  expect(loaded).toContain('apps/cli/dist/commands/designs.js');
});
