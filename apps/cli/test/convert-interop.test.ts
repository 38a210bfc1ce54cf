import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { efikdump, hasCommand, hasPythonModule, PYTHON, REPO, tempDir, toolAvailable } from './helpers';

// Interop for `efikdump convert` and the kdump-compressed writer: the real tools read what we write,
// and we read what they write. A 256 MiB machine keeps it to seconds.
const CHECKER = join(REPO, 'tools/interop/check_dump.py');
const haveMakedumpfile = toolAvailable(hasCommand('makedumpfile', ['-v']), 'makedumpfile');
const haveKdumpfile = toolAvailable(hasPythonModule('kdumpfile'), 'python3-libkdumpfile');
const haveReadelf = toolAvailable(hasCommand('readelf'), 'readelf (binutils)');

const tmp = tempDir('convert-interop');
const path = (name: string) => join(tmp.dir, name);
const vmcore = path('x.vmcore');
const truth = path('x.truth.json');
const SEED = '21';

function run(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ok(r: { status: number | null; stdout: string; stderr: string }, what: string) {
  if (r.status !== 0) throw new Error(`${what} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** check_dump.py compare: every page of A read by libkdumpfile against the same page of B. */
function compare(a: string, b: string) {
  const r = run(PYTHON, [CHECKER, 'compare', a, b]);
  return JSON.parse(r.stdout) as {
    pages: number;
    equal: number;
    differ_count: number;
    absent_in_output: number;
    absent_nonzero: number;
    absent_in_input: number;
  };
}

/** makedumpfile refuses to overwrite; each call gets a fresh name. */
function makedumpfile(args: string[], input: string, output: string) {
  return ok(run('makedumpfile', [...args, input, output]), `makedumpfile ${args.join(' ')} ${input}`);
}

beforeAll(() => {
  ok(
    efikdump([
      'run',
      '--design',
      'efi-warm-reserved-memory-ideal-firmware',
      '--memory',
      '256MiB',
      '--cpus',
      '2',
      '--seed',
      SEED,
      '--out',
      vmcore,
      '--truth',
      truth,
    ]),
    'efikdump run',
  );
  ok(efikdump(['convert', vmcore, '-o', path('ours1.kd'), '--dump-level', '1']), 'convert -d 1');
  ok(efikdump(['convert', vmcore, '-o', path('ours31.kd'), '--dump-level', '31']), 'convert -d 31');
  ok(efikdump(['convert', vmcore, '-o', path('ours1.elf'), '--format', 'elf', '--dump-level', '1']), 'convert --format elf -d 1');
  ok(efikdump(['convert', vmcore, '-o', path('ours31.elf'), '--format', 'elf', '--dump-level', '31']), 'convert --format elf -d 31');
});
afterAll(() => tmp.cleanup());

(haveKdumpfile ? test : test.skip)('libkdumpfile reads every page of our kdump-compressed output equal to the input', () => {
  const r = compare(vmcore, path('ours1.kd'));
  expect(r.differ_count).toBe(0);
  expect(r.absent_nonzero).toBe(0);
  // libkdumpfile 0.5.1 answers zeros for the page just below each PT_LOAD of an ELF: at most one per segment
  expect(r.absent_in_output).toBeLessThanOrEqual(8);
  expect(r.equal).toBeGreaterThan(30_000);
  const filtered = compare(vmcore, path('ours31.kd'));
  expect(filtered.differ_count).toBe(0);
  expect(filtered.equal).toBeLessThan(r.equal / 2);
});

(haveMakedumpfile ? describe : describe.skip)('makedumpfile', () => {
  beforeAll(() => {
    makedumpfile(['-c', '-d', '1'], vmcore, path('mdf1.kd'));
    makedumpfile(['-c', '-d', '31'], vmcore, path('mdf31.kd'));
  });

  test('accepts our ELF vmcore at -d 1 and -d 31, and our output is within 2 % of its size', () => {
    const ratio = statSync(path('ours1.kd')).size / statSync(path('mdf1.kd')).size;
    expect(Math.abs(ratio - 1)).toBeLessThan(0.02);
  });

  (haveKdumpfile ? test : test.skip)(
    'leaves out at -d 31 exactly the pages we leave out (it reads our struct pages, we read them too)',
    () => {
      const r = compare(path('mdf31.kd'), path('ours31.kd'));
      expect(r.differ_count).toBe(0);
      expect(r.absent_in_output).toBe(0);
      const back = compare(path('ours31.kd'), path('mdf31.kd'));
      expect(back.absent_in_output).toBe(0);
      expect(back.equal).toBe(r.equal);
    },
  );

  (haveKdumpfile ? test : test.skip)('re-filters our kdump-compressed output to what it writes from the ELF', () => {
    makedumpfile(['-c', '-d', '31'], path('ours1.kd'), path('refiltered31.kd'));
    const r = compare(path('mdf31.kd'), path('refiltered31.kd'));
    expect(r.differ_count).toBe(0);
    expect(r.absent_in_output).toBe(0);
    makedumpfile(['-l', '-d', '16'], path('ours31.kd'), path('refiltered-lzo.kd'));
  });

  test('accepts our filtered ELF (-E style) as input', () => {
    makedumpfile(['-c', '-d', '1'], path('ours31.elf'), path('from-our-elf.kd'));
    expect(statSync(path('from-our-elf.kd')).size).toBeGreaterThan(1 << 20);
  });

  test('efikdump reads what makedumpfile writes: zlib and lzo pages, filtered levels', () => {
    makedumpfile(['-l', '-d', '1'], vmcore, path('mdf-lzo.kd'));
    for (const f of ['mdf1.kd', 'mdf31.kd', 'mdf-lzo.kd']) {
      const r = efikdump(['verify', path(f), '--truth', truth]);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    }
    const lzo = efikdump(['inspect', path('mdf-lzo.kd'), '--json']);
    expect(JSON.parse(lzo.stdout).compression).toBe('lzo');
  });

  (haveKdumpfile ? test : test.skip)('our -E output and makedumpfile -E output hold the same pages', () => {
    makedumpfile(['-E', '-d', '31'], vmcore, path('mdf31.elf'));
    const r = compare(path('mdf31.elf'), path('ours31.elf'));
    expect(r.differ_count).toBe(0);
    expect(r.absent_in_output).toBe(0);
  });
});

(haveReadelf ? test : test.skip)('readelf reads our ELF output: one PT_NOTE with every CPU and VMCOREINFO, split PT_LOADs', () => {
  const r = run('readelf', ['-h', '-l', '-n', '-W', path('ours31.elf')]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/Type:\s+CORE \(Core file\)/);
  expect(r.stdout.match(/^\s+NOTE\s/gm)).toHaveLength(1);
  expect(r.stdout.match(/NT_PRSTATUS/g)).toHaveLength(2);
  expect(r.stdout).toMatch(/VMCOREINFO/);
  const loads = [...r.stdout.matchAll(/^\s+LOAD\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)/gm)];
  expect(loads.length).toBeGreaterThan(5);
  expect(loads.some((m) => Number(m[1]) < Number(m[2]))).toBe(true); // excluded tails in p_memsz only
});

(haveKdumpfile ? test : test.skip)(
  'the kdump-compressed writer plug-in, inside a run, writes the same file convert -d 31 writes from its ELF',
  () => {
    const design = JSON.parse(readFileSync(join(REPO, 'apps/cli/designs/efi-warm-reserved-memory-ideal-firmware.json'), 'utf8'));
    design.name = 'kdump-writer-test-ideal-firmware';
    design.components.writer = 'kdump-compressed';
    writeFileSync(path('design.json'), JSON.stringify(design));
    const r = ok(
      efikdump(['run', '--design', path('design.json'), '--memory', '256MiB', '--cpus', '2', '--seed', SEED, '--out', path('plugin.kd')]),
      'run with kdump-compressed',
    );
    expect(r.stdout).toMatch(/wrote .* kdump-compressed \(zlib, -d 31\)/);
    expect(readFileSync(path('plugin.kd')).equals(readFileSync(path('ours31.kd')))).toBe(true);
    const check = run(PYTHON, [CHECKER, 'libkdumpfile', path('plugin.kd'), truth]);
    const result = JSON.parse(check.stdout);
    expect(result.mismatched).toEqual([]);
    expect(result.matched + result.missing.length).toBe(result.checked);
  },
);

(haveMakedumpfile && haveKdumpfile ? test : test.skip)(
  "the convert benchmark runs in its quick form and every output passes libkdumpfile's page-by-page check",
  () => {
    const r = spawnSync(process.execPath, [join(REPO, 'tools/bench/convert/bench-convert.js'), '--quick', '--json'], {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
      timeout: 300_000,
    });
    if (r.status !== 0) throw new Error(`bench-convert --quick exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
    const result = JSON.parse(r.stdout);
    expect(result.failures).toEqual([]);
    expect(result.rows.map((x: { case: string }) => x.case)).toEqual(
      expect.arrayContaining(['makedumpfile -c -d 1', 'efikdump ELF -d 1 (zero pages dropped)']),
    );
    // Every row that wrote a dump was checked page by page (cp floors and start-up rows write none).
    const dumps = result.rows.filter((x: { kind: string }) => x.kind !== 'floor' && x.kind !== 'startup');
    expect(dumps.length).toBeGreaterThan(0);
    for (const row of dumps) expect(row.check).toMatch(/, 0 differ,/);
  },
);
