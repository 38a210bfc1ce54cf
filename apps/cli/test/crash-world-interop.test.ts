import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { efikdump, hasCommand, hasPythonModule, keepsRamScenario, PYTHON, REPO, tempDir, toolAvailable } from './helpers';

// Issue 5: the dumps of the baseline exit paths are real vmcores too — readelf, libkdumpfile and
// drgn read them page for page against the truth; classic kexec's handoff is its command line.

const CHECKER = join(REPO, 'tools/interop/check_dump.py');
const haveReadelf = toolAvailable(hasCommand('readelf'), 'readelf (binutils)');
const haveKdumpfile = toolAvailable(hasPythonModule('kdumpfile'), 'python3-libkdumpfile');
const haveDrgn = toolAvailable(hasPythonModule('drgn'), 'python3-drgn');

// The dumps' formats are under test, not what POST destroys: POST keeps RAM here.
const scenarioDir = tempDir('crash-world-interop-scenario');
const KEEPS_RAM = keepsRamScenario(scenarioDir.dir);
afterAll(() => scenarioDir.cleanup());

describe.each(['classic-kexec', 'fadump', 'efi-cold-reserved-memory'])('efikdump run --design %s --out', (design) => {
  const tmp = tempDir(`crash-world-${design}`);
  const vmcore = join(tmp.dir, 'x.vmcore');
  const truth = join(tmp.dir, 't.json');
  const artifacts = join(tmp.dir, 'artifacts');
  let output = '';
  beforeAll(() => {
    const r = efikdump([
      'run',
      '--design',
      design,
      '--scenario',
      KEEPS_RAM,
      '--memory',
      '2GiB',
      '--cpus',
      '3',
      '--seed',
      '11',
      '--out',
      vmcore,
      '--truth',
      truth,
      '--artifacts',
      artifacts,
    ]);
    output = r.stdout + r.stderr;
    if (r.status !== 0) throw new Error(`efikdump run exited ${r.status}:\n${output}`);
  });
  afterAll(() => tmp.cleanup());

  test('completes a dump that verify accepts', () => {
    expect(output).toContain('outcome: dump-complete');
    const v = efikdump(['verify', vmcore, '--truth', truth]);
    expect(v.stderr).toBe('');
    expect(v.status).toBe(0);
  });

  (haveReadelf ? test : test.skip)('readelf: ET_CORE with one PT_NOTE holding every CPU and VMCOREINFO', () => {
    const r = spawnSync('readelf', ['-h', '-l', '-n', '-W', vmcore], { encoding: 'utf8', maxBuffer: 64 << 20 });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/Type:\s+CORE \(Core file\)/);
    expect(r.stdout.match(/^\s+NOTE\s/gm)).toHaveLength(1);
    expect(r.stdout.match(/NT_PRSTATUS/g)).toHaveLength(3);
  });

  (haveKdumpfile ? test : test.skip)('libkdumpfile reads every sampled page with its SHA-256', () => {
    const r = spawnSync(PYTHON, [CHECKER, 'libkdumpfile', vmcore, truth], { encoding: 'utf8', maxBuffer: 64 << 20 });
    expect(r.stderr).toBe('');
    const result = JSON.parse(r.stdout);
    expect({ mismatched: result.mismatched, missing: result.missing, excluded: result.excluded_present }).toEqual({
      mismatched: [],
      missing: [],
      excluded: [],
    });
    expect(result.matched).toBe(result.checked);
    expect(r.status).toBe(0);
  });

  (haveDrgn ? test : test.skip)('drgn opens it as a Linux kernel core and reads every sampled page', () => {
    const r = spawnSync(PYTHON, [CHECKER, 'drgn', vmcore, truth], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const result = JSON.parse(r.stdout);
    expect(result.info.flags).toContain('IS_LINUX_KERNEL');
    expect(result.matched).toBe(result.checked);
    expect(r.status).toBe(0);
  });

  if (design === 'classic-kexec') {
    test('--artifacts holds the capture command line kexec loaded: elfcorehdr= and memmap=exactmap over the reservation', () => {
      const cmdline = readFileSync(join(artifacts, 'capture-cmdline.txt'), 'utf8').trim();
      expect(cmdline).toMatch(/(^| )elfcorehdr=\d+K( |$)/);
      expect(cmdline).toMatch(/ memmap=exactmap( memmap=\d+K@\d+K)+ /);
      expect(cmdline).toContain('console=ttyS0');
      const kib = Number(/elfcorehdr=(\d+)K/.exec(cmdline)![1]);
      expect(output).toMatch(new RegExp(`elfcorehdr at 0x${(kib * 1024).toString(16)}\\)`));
      const summary = JSON.parse(readFileSync(join(artifacts, 'handoff.json'), 'utf8'));
      expect(summary).toMatchObject({ transport: 'cmdline', persisted: { transport: 'cmdline' } });
    });
  }
});
