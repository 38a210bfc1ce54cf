import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { efikdump, hasCommand, hasPythonModule, PYTHON, REPO, tempDir, toolAvailable } from './helpers';

const CHECKER = join(REPO, 'tools/interop/check_lost.py');
const haveReadelf = toolAvailable(hasCommand('readelf'), 'readelf (binutils)');
const haveKdumpfile = toolAvailable(hasPythonModule('kdumpfile'), 'python3-libkdumpfile');
const haveDrgn = toolAvailable(hasPythonModule('drgn'), 'python3-drgn');

/*
 * A dump that declares its loss: a footprint-aware design on measured OVMF, written as ELF and
 * converted to kdump-compressed. The declared ranges are read back from the files by
 * tools/interop/check_lost.py and the dumps opened with libkdumpfile and drgn.
 */
describe('the lost-ranges note read back by real tools', () => {
  const tmp = tempDir('lost');
  const out = (name: string) => join(tmp.dir, name);
  const designFile = out('measured-only.json');
  let changed: [number, number][] = [];

  beforeAll(() => {
    // The design that declares only what the profile predicts POST writes: its note must list exactly what the firmware changed.
    const base = JSON.parse(readFileSync(join(REPO, 'apps/cli/designs/efi-warm-reserved-memory-footprint-aware.json'), 'utf8'));
    writeFileSync(designFile, JSON.stringify({ ...base, name: 'measured-only', kdump: { ...base.kdump, declareLoss: 'measured' } }));
    const run = efikdump([
      'run',
      '--design',
      designFile,
      '--memory',
      '1GiB',
      '--cpus',
      '2',
      '--seed',
      '5',
      '--out',
      out('d.vmcore'),
      '--truth',
      out('t.json'),
      '--json',
    ]);
    if (run.status !== 0 && run.status !== 1) throw new Error(`efikdump run exited ${run.status}:\n${run.stderr}`);
    const result = JSON.parse(run.stdout);
    expect(result.outcome).toBe('dump-partial');
    const kernelRam = (r: [number, number]) => r;
    changed = result.firmware.retention
      .filter((e: { policy: string }) => e.policy === 'firmware-scratch')
      .flatMap((e: { changedRanges: [number, number][] }) => e.changedRanges.map(kernelRam));
    const conv = efikdump(['convert', out('d.vmcore'), '-o', out('d.kdump'), '--format', 'kdump']);
    if (conv.status !== 0) throw new Error(`efikdump convert exited ${conv.status}:\n${conv.stderr}`);
  });
  afterAll(() => tmp.cleanup());

  (haveReadelf ? test : test.skip)("readelf lists the EFIKDUMP note beside the kernel's", () => {
    const r = spawnSync('readelf', ['-n', out('d.vmcore')], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/EFIKDUMP\s+0x[0-9a-f]+\s+Unknown note type: \(0x54534f4c\)/);
    expect(r.stdout).toContain('VMCOREINFO');
  });

  const readers = [
    ['libkdumpfile', haveKdumpfile],
    ['drgn', haveDrgn],
  ] as const;
  describe.each(['d.vmcore', 'd.kdump'])('%s', (file) => {
    test.each(readers)(
      '%s: the listed ranges are exactly what the firmware changed; pages inside are absent, every other sampled page matches',
      (reader, have) => {
        if (!have) return;
        const r = spawnSync(PYTHON, [CHECKER, reader, out(file), out('t.json')], { encoding: 'utf8', maxBuffer: 64 << 20 });
        expect(r.stderr).toBe('');
        const result = JSON.parse(r.stdout);
        expect(result.ranges.map(([s, e]: [number, number]) => [s, e])).toEqual(changed);
        expect(result.ranges.every((x: unknown[]) => x[2] === 'firmware-footprint')).toBe(true);
        expect(result.inside_lost).toBeGreaterThan(0);
        expect(result.inside_lost_readable).toEqual([]);
        expect(result.outside_mismatched).toEqual([]);
        expect(result.outside_missing).toEqual([]);
        expect(r.status).toBe(0);
      },
    );
  });

  test('efikdump verify tells a declared loss from corruption', () => {
    const v = efikdump(['verify', out('d.vmcore'), '--truth', out('t.json')]);
    // Partial (exit 1): every difference from the truth is in the dump's lost-ranges note.
    expect(v.stderr).toBe('');
    expect(v.stdout).toMatch(
      /: partial: \d+\/\d+ sampled pages match .*; \d+ pages declared lost \(\d+ in the lost-ranges note \(\d+ ranges, \d+ pages\)\)/,
    );
    expect(v.status).toBe(1);
  });
});
