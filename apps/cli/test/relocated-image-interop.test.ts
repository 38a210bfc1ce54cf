import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { efikdump, hasCommand, hasPythonModule, PYTHON, REPO, tempDir, toolAvailable } from './helpers';

const CHECKER = join(REPO, 'tools/interop/check_kernel_map.py');
const haveReadelf = toolAvailable(hasCommand('readelf'), 'readelf (binutils)');
const haveKdumpfile = toolAvailable(hasPythonModule('kdumpfile'), 'python3-libkdumpfile');
const haveDrgn = toolAvailable(hasPythonModule('drgn'), 'python3-drgn');
const haveMakedumpfile = toolAvailable(hasCommand('makedumpfile', ['-v']), 'makedumpfile');

// The quarantine design's stub puts the image above OVMF's decompression area: 0x1800000, phys_base 0x800000.
const DESIGN = 'efi-warm-reserved-memory-footprint-aware-quarantine';
const BASE = 0x1800000;
const PHYS_BASE = BASE - 0x1000000;

/*
 * A dump whose kernel runs relocated (phys_base ≠ 0), read through its kernel-text mapping: the
 * ELF dump's kernel-text PT_LOAD, the kdump-compressed sub-header's phys_base, and init_uts_ns
 * read at its kernel virtual address by libkdumpfile and drgn (tools/interop/check_kernel_map.py).
 */
describe('a relocated kernel image read by real tools', () => {
  const tmp = tempDir('reloc');
  const out = (name: string) => join(tmp.dir, name);

  beforeAll(() => {
    const run = efikdump([
      'run',
      '--design',
      DESIGN,
      '--memory',
      '256MiB',
      '--cpus',
      '2',
      '--seed',
      '4',
      '--out',
      out('d.vmcore'),
      '--json',
    ]);
    if (run.status !== 0) throw new Error(`efikdump run exited ${run.status}:\n${run.stderr}`);
    const result = JSON.parse(run.stdout);
    expect([result.outcome, result.metrics.kernelImageBase]).toEqual(['dump-complete', BASE]);
    const conv = efikdump(['convert', out('d.vmcore'), '-o', out('d.kdump'), '--format', 'kdump']);
    if (conv.status !== 0) throw new Error(`efikdump convert exited ${conv.status}:\n${conv.stderr}`);
  });
  afterAll(() => tmp.cleanup());

  (haveReadelf ? test : test.skip)('readelf: the kernel-text PT_LOAD maps _stext to the relocated base', () => {
    const r = spawnSync('readelf', ['-lW', out('d.vmcore')], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const text = r.stdout.split('\n').filter((l) => /^\s+LOAD\s/.test(l) && /0xffffffff8/.test(l));
    expect(text).toHaveLength(1);
    const [, , vaddr, paddr] = text[0].trim().split(/\s+/);
    expect([BigInt(vaddr), Number(paddr)]).toEqual([0xffffffff81000000n, BASE]);
  });

  test('the kdump-compressed sub-header carries phys_base', () => {
    const r = efikdump(['inspect', out('d.kdump'), '--json']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`"physBase": "0x${PHYS_BASE.toString(16)}"`);
  });

  const readers = [
    ['libkdumpfile', haveKdumpfile],
    ['drgn', haveDrgn],
  ] as const;
  describe.each(['d.vmcore', 'd.kdump'])('%s', (file) => {
    test.each(readers)('%s reads init_uts_ns and _stext through the kernel map', (reader, have) => {
      if (!have) return;
      const r = spawnSync(PYTHON, [CHECKER, reader, out(file)], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      const result = JSON.parse(r.stdout);
      expect(result).toMatchObject({
        vmcoreinfo_phys_base: PHYS_BASE,
        sysname: 'Linux',
        release: '6.1.0-efikdump',
        stext_paddr: BASE,
        text_equal: true,
        text_nonzero: true,
      });
      if (reader === 'libkdumpfile') expect(result.reader_phys_base).toBe(PHYS_BASE);
      expect(r.status).toBe(0);
    });
  });

  (haveMakedumpfile && haveKdumpfile ? test : test.skip)(
    'makedumpfile -d 31 filters the relocated dump, and libkdumpfile reads its output',
    () => {
      const m = spawnSync('makedumpfile', ['-c', '-d', '31', out('d.vmcore'), out('m.kdump')], { encoding: 'utf8' });
      expect([m.status, m.stdout.includes('makedumpfile Completed')]).toEqual([0, true]);
      const r = spawnSync(PYTHON, [CHECKER, 'libkdumpfile', out('m.kdump')], { encoding: 'utf8' });
      expect(JSON.parse(r.stdout)).toMatchObject({ reader_phys_base: PHYS_BASE, sysname: 'Linux', stext_paddr: BASE, text_equal: true });
      expect(r.status).toBe(0);
    },
  );
});
