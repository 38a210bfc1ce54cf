import { cpSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { BIN, efikdump, REPO, tempDir } from './helpers';

// Plug-in packages from outside the workspace, named by a design (resolved from its folder), by
// --plugin or by EFIKDUMP_PLUGINS. The fixture is a plain CommonJS package with core as a peer.
const FIXTURE = join(REPO, 'tools/fixtures/efikdump-plugin-example');

function designNaming(dir: string, plugins: string[], retention = 'example-keep-everything'): string {
  const file = join(dir, 'mine.json');
  writeFileSync(
    file,
    JSON.stringify({
      format: 'efikdump-design/1',
      name: 'mine',
      description: 'the efivar design with a retention policy from an out-of-tree plug-in',
      plugins,
      components: {
        firmware: 'uefi',
        retention: [retention],
        kernel: 'linux',
        transport: 'efi-variable',
        exit: 'efi-warm-reset',
        detector: 'efi-variable-flag',
        stub: 'linux-efi-stub',
        capture: 'linux-vmcore',
        writer: 'elf',
      },
      firmware: { profile: 'ovmf' },
      kernel: { cmdline: 'root=/dev/vda1 ro console=ttyS0 nokaslr crashkernel=0M-1G:128M,1G-4G:192M,4G-64G:256M,64G-:512M' },
    }),
  );
  return file;
}

describe('plug-ins from outside the workspace', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = tempDir('plugins')));
  afterEach(() => cleanup());

  it("a design's plugins (a path relative to the design file) register their implementations for the run", () => {
    cpSync(FIXTURE, join(dir, 'example'), { recursive: true });
    // The copy finds @efikdump/core the way an installed plug-in would: through node_modules above it.
    mkdirSync(join(dir, 'node_modules/@efikdump'), { recursive: true });
    symlinkSync(join(REPO, 'packages/core'), join(dir, 'node_modules/@efikdump/core'));
    const design = designNaming(dir, ['./example']);
    const r = efikdump(['run', '--design', design, '--memory', '256MiB', '--seed', '3']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/retention example-keep-everything: 0 pages changed/);
    expect(r.stdout).toMatch(/design mine, scenario healthy, seed 3/);
  });

  it('--plugin and EFIKDUMP_PLUGINS load a package for a design that does not name it', () => {
    const design = designNaming(dir, []);
    const viaFlag = efikdump(['run', '--design', design, '--memory', '256MiB', '--plugin', FIXTURE]);
    expect(viaFlag.stdout).toMatch(/retention example-keep-everything: 0 pages changed/);
    const viaEnv = spawnSync(process.execPath, [BIN, 'run', '--design', design, '--memory', '256MiB'], {
      encoding: 'utf8',
      env: { ...process.env, EFIKDUMP_PLUGINS: FIXTURE },
    });
    expect(viaEnv.stdout).toMatch(/retention example-keep-everything: 0 pages changed/);
    const withoutIt = efikdump(['run', '--design', design, '--memory', '256MiB']);
    expect(withoutIt.status).toBe(2);
    expect(withoutIt.stderr).toMatch(/Unknown retention: example-keep-everything/);
  });

  it('an unknown plug-in package fails with exit 2, naming the package, the design and where it looked', () => {
    const design = designNaming(dir, ['efikdump-plugin-nowhere']);
    const r = efikdump(['run', '--design', design]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`error: ${design}`);
    expect(r.stderr).toMatch(/plug-in package "efikdump-plugin-nowhere" not found \(looked for it in .*node_modules/);
    const missingPath = efikdump(['run', '--design', designNaming(dir, ['./not-here'])]);
    expect(missingPath.status).toBe(2);
    expect(missingPath.stderr).toContain(`looked for it at ${join(dir, 'not-here')}`);
  });

  it('a plug-in that brought its own copy of @efikdump/core is refused with a message that says so', () => {
    const pkg = join(dir, 'node_modules/efikdump-plugin-example');
    cpSync(FIXTURE, pkg, { recursive: true });
    // A second, real copy of core inside the plug-in (what a regular dependency would install).
    const ownCore = join(pkg, 'node_modules/@efikdump/core');
    mkdirSync(ownCore, { recursive: true });
    cpSync(join(REPO, 'packages/core/package.json'), join(ownCore, 'package.json'));
    cpSync(join(REPO, 'packages/core/dist'), join(ownCore, 'dist'), { recursive: true });
    for (const dep of ['reflect-metadata', 'tsyringe', 'rxjs', 'tslib'])
      symlinkSync(join(REPO, 'node_modules', dep), join(dir, 'node_modules', dep));
    const design = designNaming(dir, ['efikdump-plugin-example']);
    const r = efikdump(['run', '--design', design]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/a second copy of @efikdump\/core .* peerDependency/);
  });

  it('compare loads the plug-ins in every worker thread: a design naming them, and --plugin for one that does not', () => {
    cpSync(FIXTURE, join(dir, 'example'), { recursive: true });
    mkdirSync(join(dir, 'node_modules/@efikdump'), { recursive: true });
    symlinkSync(join(REPO, 'packages/core'), join(dir, 'node_modules/@efikdump/core'));
    const sweep = (design: string, extra: string[], report: string) =>
      efikdump([
        'compare',
        '--designs',
        design,
        '--scenarios',
        'healthy',
        '--runs',
        '2',
        '--backend',
        'threads',
        '--workers',
        '2',
        '--report',
        join(dir, report),
        '--json',
        ...extra,
      ]);
    const outcomes = (stdout: string) =>
      (JSON.parse(stdout) as { cells: { design: string; runs: number; outcomes: Record<string, number> }[] }).cells;
    const named = sweep(designNaming(dir, ['./example']), [], 'named');
    expect(named.stderr).toBe('');
    expect(named.status).toBe(0);
    const [cell] = outcomes(named.stdout);
    expect(cell.design).toBe('mine');
    expect(cell.runs).toBe(2);
    // The same design and seeds through `run`: the sweep's outcomes are the runs' outcomes.
    const viaRun = [1, 2].map(
      (seed) =>
        JSON.parse(efikdump(['run', '--design', join(dir, 'mine.json'), '--seed', String(seed), '--json']).stdout).outcome as string,
    );
    for (const o of new Set(viaRun)) expect(cell.outcomes[o]).toBe(viaRun.filter((x) => x === o).length);
    const other = join(dir, 'other');
    mkdirSync(other);
    const flagged = sweep(designNaming(other, []), ['--plugin', FIXTURE], 'flagged');
    expect(flagged.stderr).toBe('');
    expect(flagged.status).toBe(0);
    expect(outcomes(flagged.stdout)[0].outcomes).toEqual(cell.outcomes);
    const without = sweep(join(other, 'mine.json'), [], 'without');
    expect(without.status).toBe(2);
    expect(without.stderr).toMatch(/Unknown retention: example-keep-everything/);
  });
});
