import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { efikdump, hasCommand, keepsRamScenario, PYTHON, REPO, tempDir, toolAvailable } from './helpers';

// Real tools on what `efikdump run --artifacts` writes (Debian packages acpica-tools and
// device-tree-compiler; tools/interop/check_efivarfs.py for the efivarfs layout).
const haveIasl = toolAvailable(hasCommand('iasl', ['-v']), 'iasl (acpica-tools)');
const haveDtc = toolAvailable(hasCommand('dtc', ['--version']), 'dtc (device-tree-compiler)');

// The artifacts' formats are under test, not what POST destroys: POST keeps RAM here.
const scenarioDir = tempDir('transports-interop-scenario');
const KEEPS_RAM = keepsRamScenario(scenarioDir.dir);
afterAll(() => scenarioDir.cleanup());

function runWithArtifacts(design: string, dir: string, extra: string[] = []): string {
  const r = efikdump(['run', '--design', design, '--scenario', KEEPS_RAM, '--memory', '1GiB', '--seed', '4', '--artifacts', dir, ...extra]);
  if (r.status !== 0) throw new Error(`efikdump run --design ${design} exited ${r.status}:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

describe('efikdump run --artifacts, read by the real tools', () => {
  const tmp = tempDir('transports-interop');
  afterAll(() => tmp.cleanup());

  (haveIasl ? test : test.skip)('efi-warm-acpi-erst: iasl -d disassembles the BERT and ERST tables with no complaint', () => {
    const dir = join(tmp.dir, 'erst');
    expect(runWithArtifacts('efi-warm-acpi-erst', dir)).toContain('outcome: dump-complete');
    const r = spawnSync('bash', [join(REPO, 'tools/interop/check_acpi_tables.sh'), join(dir, 'acpi')], { encoding: 'utf8' });
    expect(r.stdout).not.toMatch(/FAIL/);
    expect(r.stdout).toMatch(/^ok {3}bert\.dat \(BERT\)$/m);
    expect(r.stdout).toMatch(/^ok {3}erst\.dat \(ERST\)$/m);
    expect(r.status).toBe(0);
    // The BERT iasl prints points at the boot error region whose bytes are beside it.
    const work = join(tmp.dir, 'iasl');
    spawnSync('mkdir', ['-p', work]);
    spawnSync('cp', [join(dir, 'acpi/bert.dat'), work]);
    expect(spawnSync('iasl', ['-d', 'bert.dat'], { cwd: work, encoding: 'utf8' }).status).toBe(0);
    const dsl = readFileSync(join(work, 'bert.dsl'), 'utf8');
    const length = readFileSync(join(dir, 'boot-error-region.bin')).length;
    expect(dsl).toMatch(new RegExp(`Boot Error Region Length : ${length.toString(16).toUpperCase().padStart(8, '0')}`));
  });

  (haveDtc ? test : test.skip)('efi-warm-fdt: dtc -I dtb -O dts prints the handoff tree', () => {
    const dir = join(tmp.dir, 'fdt');
    expect(runWithArtifacts('efi-warm-fdt', dir)).toContain('outcome: dump-complete');
    const r = spawnSync('dtc', ['-I', 'dtb', '-O', 'dts', join(dir, 'handoff.dtb')], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/compatible = "efikdump,handoff-v2";/);
    expect(r.stdout).toMatch(/reason = "sysrq: Trigger a crash";/);
    expect(r.stdout).toMatch(/\/memreserve\/\s+0x[0-9a-f]+ 0x[0-9a-f]+;/);
    expect(r.stdout).toMatch(/elfcorehdr@[0-9a-f]+ \{/);
    // And back: dtc compiles its own output to a blob of the same size.
    const back = spawnSync('dtc', ['-I', 'dts', '-O', 'dtb', '-o', join(tmp.dir, 'again.dtb')], { input: r.stdout, encoding: 'utf8' });
    expect(back.status).toBe(0);
  });

  test('efi-warm-efivar: the variables have the efivarfs layout (tools/interop/check_efivarfs.py)', () => {
    const dir = join(tmp.dir, 'efivar');
    expect(runWithArtifacts('efi-warm-efivar', dir)).toContain('outcome: dump-complete');
    const r = spawnSync(PYTHON, [join(REPO, 'tools/interop/check_efivarfs.py'), join(dir, 'efivarfs')], { encoding: 'utf8' });
    const result = JSON.parse(r.stdout);
    expect(result.problems).toEqual([]);
    expect(result.variables).toEqual([
      { name: 'EfikdumpHandoff0000', guid: expect.any(String), attributes: 7, size: readFileSync(join(dir, 'handoff-record.bin')).length },
    ]);
    expect(readdirSync(join(dir, 'efivarfs'))).toHaveLength(1);
    expect(r.status).toBe(0);
  });
});
