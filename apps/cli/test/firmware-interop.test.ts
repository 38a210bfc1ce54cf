import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { efikdump, hasCommand, PYTHON, REPO, tempDir, toolAvailable } from './helpers';

// Real tools on what `efikdump firmware export` writes (Debian packages: acpica-tools, efivar,
// uefitool-cli, ovmf). python3-virt-firmware is not in Debian 12, so its tool is not used here.
const haveIasl = toolAvailable(hasCommand('iasl', ['-v']), 'iasl (acpica-tools)');
const haveEfivar = toolAvailable(hasCommand('efivar', ['--help']), 'efivar');
const haveUefiExtract = toolAvailable(
  () => spawnSync('UEFIExtract', [], { encoding: 'utf8' }).error === undefined,
  'UEFIExtract (uefitool-cli)',
);
const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.ms.fd';
const haveOvmf = toolAvailable(() => existsSync(OVMF_VARS), 'OVMF_VARS_4M.ms.fd (ovmf)');

describe.each(['server', 'ovmf', 'laptop'])('efikdump firmware export --profile %s', (profile) => {
  const tmp = tempDir(`fw-interop-${profile}`);
  const [a, v, fd] = ['a', 'v', 'vars.fd'].map((f) => join(tmp.dir, f));
  beforeAll(() => {
    const r = efikdump(['firmware', 'export', '--profile', profile, '--acpi', a, '--vars', v, '--fd', fd]);
    if (r.status !== 0) throw new Error(`export exited ${r.status}: ${r.stderr}`);
  });
  afterAll(() => tmp.cleanup());

  (haveIasl ? test : test.skip)('iasl -d disassembles every table with no checksum or parse complaint', () => {
    const r = spawnSync('bash', [join(REPO, 'tools/interop/check_acpi_tables.sh'), a], { encoding: 'utf8' });
    expect(r.stdout).not.toMatch(/FAIL/);
    expect(r.status).toBe(0);
    expect(r.stdout.match(/^ok /gm)).toHaveLength(readdirSync(a).length);
  });

  test('every file in the vars directory has the efivarfs layout (tools/interop/check_efivarfs.py)', () => {
    const r = spawnSync(PYTHON, [join(REPO, 'tools/interop/check_efivarfs.py'), v], { encoding: 'utf8' });
    const result = JSON.parse(r.stdout);
    expect(result.problems).toEqual([]);
    expect(result.variables.length).toBe(readdirSync(v).length);
    expect(r.status).toBe(0);
  });

  (haveEfivar ? test : test.skip)('efivar (libefivar) lists and prints every variable from the directory', () => {
    const env = { ...process.env, EFIVARFS_PATH: `${v}/` };
    const list = spawnSync('efivar', ['-l'], { encoding: 'utf8', env });
    expect(list.status).toBe(0);
    const listed = list.stdout.trim().split('\n').sort();
    const files = readdirSync(v)
      .map((f) => `${f.slice(-36)}-${f.slice(0, -37)}`)
      .sort();
    expect(listed).toEqual(files);
    const mor = files.find((f) => f.endsWith('-MemoryOverwriteRequestControl'));
    const one = spawnSync('efivar', ['-p', '-n', mor ?? files[0]], { encoding: 'utf8', env });
    expect(one.status).toBe(0);
    expect(one.stdout).toMatch(/Non-Volatile\s+Boot Service Access\s+Runtime Service Access/);
  });

  // UEFIExtract 0.28 (Debian 12) knows edk2's authenticated store (VSS2) but not the plain EFI_VARIABLE_GUID store.
  (haveUefiExtract && profile !== 'server' ? test : test.skip)(
    'UEFIExtract parses our volume and lists the same valid variables as our reader',
    () => {
      const r = spawnSync('UEFIExtract', [fd, 'report'], { encoding: 'utf8', cwd: tmp.dir });
      expect(r.status).toBe(0);
      const report = readFileSync(`${fd}.report.txt`, 'utf8');
      expect(report).toMatch(/VSS2 store/);
      const theirs = [...report.matchAll(/VSS entry\s+\|\s+Auth\s+\|.*\|\s+--- ([0-9A-F-]{36}) \| (\S+)/g)]
        .map((m) => `${m[2]}-${m[1].toLowerCase()}`)
        .sort();
      const ours = spawnSync(process.execPath, [join(REPO, 'apps/cli/bin/efikdump.js'), 'firmware', 'list', '--fd', fd, '--json'], {
        encoding: 'utf8',
      });
      const mine = JSON.parse(ours.stdout)
        .map((x: { name: string; guid: string }) => `${x.name}-${x.guid}`)
        .sort();
      expect(theirs).toEqual(mine);
      // Deleted copies waiting for reclaim are what UEFIExtract calls Invalid.
      const all = spawnSync(process.execPath, [join(REPO, 'apps/cli/bin/efikdump.js'), 'firmware', 'list', '--fd', fd, '--all', '--json'], {
        encoding: 'utf8',
      });
      expect(report.match(/VSS entry\s+\|\s+Invalid/g)?.length ?? 0).toBe(JSON.parse(all.stdout).length - mine.length);
    },
  );
});

describe("our reader on Debian's OVMF_VARS", () => {
  (haveOvmf && haveUefiExtract ? test : test.skip)('lists the same valid variables as UEFIExtract', () => {
    const tmp = tempDir('ovmf-vars');
    try {
      const copy = join(tmp.dir, 'OVMF_VARS.fd');
      spawnSync('cp', [OVMF_VARS, copy]);
      expect(spawnSync('UEFIExtract', [copy, 'report'], { encoding: 'utf8' }).status).toBe(0);
      const report = readFileSync(`${copy}.report.txt`, 'utf8');
      const theirs = [...report.matchAll(/VSS entry\s+\|\s+Auth\s+\|.*\|\s+--- ([0-9A-F-]{36}) \| (.+?)\s*$/gm)]
        .map((m) => `${m[2]}-${m[1].toLowerCase()}`)
        .sort();
      const ours = efikdump(['firmware', 'list', '--fd', copy, '--json']);
      expect(ours.status).toBe(0);
      const mine = JSON.parse(ours.stdout)
        .map((x: { name: string; guid: string }) => `${x.name}-${x.guid}`)
        .sort();
      expect(mine).toEqual(theirs);
      expect(mine.length).toBeGreaterThan(20);
    } finally {
      tmp.cleanup();
    }
  });
});
