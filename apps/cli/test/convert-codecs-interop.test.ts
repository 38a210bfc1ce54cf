import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { efikdump, hasCommand, hasPythonModule, PYTHON, REPO, tempDir, toolAvailable } from './helpers';

// Issue 17: our lzo (LZO1X-1 of our own), zstd and snappy pages, read back page for page by
// libkdumpfile (liblzo2, libzstd, libsnappy) and, for lzo, by makedumpfile (Debian's build reads
// lzo and zlib only). A 256 MiB machine keeps it to seconds.
const CHECKER = join(REPO, 'tools/interop/check_dump.py');
const haveMakedumpfile = toolAvailable(hasCommand('makedumpfile', ['-v']), 'makedumpfile');
const haveKdumpfile = toolAvailable(hasPythonModule('kdumpfile'), 'python3-libkdumpfile');

const tmp = tempDir('convert-codecs');
const path = (name: string) => join(tmp.dir, name);
const vmcore = path('x.vmcore');
const CODECS = ['lzo', 'zstd', 'snappy'] as const;

function ok(r: { status: number | null; stdout: string; stderr: string }, what: string) {
  if (r.status !== 0) throw new Error(`${what} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

function compare(a: string, b: string) {
  const r = spawnSync(PYTHON, [CHECKER, 'compare', a, b], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return JSON.parse(r.stdout) as { equal: number; differ_count: number; absent_in_output: number; absent_nonzero: number };
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
      '23',
      '--out',
      vmcore,
    ]),
    'efikdump run',
  );
  for (const codec of CODECS) {
    for (const level of ['1', '31']) {
      ok(
        efikdump(['convert', vmcore, '-o', path(`${codec}${level}.kd`), '--compress', codec, '--dump-level', level, '--threads', '2']),
        `convert --compress ${codec} -d ${level}`,
      );
    }
  }
});
afterAll(() => tmp.cleanup());

(haveKdumpfile ? test.each(CODECS) : test.skip.each(CODECS))(
  'libkdumpfile reads every page of our %s output equal to the input, at -d 1 and -d 31',
  (codec) => {
    const all = compare(vmcore, path(`${codec}1.kd`));
    expect(all.differ_count).toBe(0);
    expect(all.absent_nonzero).toBe(0);
    expect(all.equal).toBeGreaterThan(30_000);
    const filtered = compare(vmcore, path(`${codec}31.kd`));
    expect(filtered.differ_count).toBe(0);
    expect(filtered.equal).toBeGreaterThan(1000);
    expect(filtered.equal).toBeLessThan(all.equal / 2);
  },
);

(haveMakedumpfile ? describe : describe.skip)('makedumpfile and our lzo', () => {
  test('makedumpfile -l writes the same pages at -d 31, and our output is within 5 % of its size', () => {
    ok(
      spawnSync('makedumpfile', ['-l', '--message-level', '7', '-d', '31', vmcore, path('mdf-l31.kd')], { encoding: 'utf8' }),
      'makedumpfile -l -d 31',
    );
    const ratio = statSync(path('lzo31.kd')).size / statSync(path('mdf-l31.kd')).size;
    expect(Math.abs(ratio - 1)).toBeLessThan(0.05);
    if (haveKdumpfile) {
      const r = compare(path('mdf-l31.kd'), path('lzo31.kd'));
      expect(r.differ_count).toBe(0);
      expect(r.absent_in_output).toBe(0);
    }
  });

  test('makedumpfile decompresses our lzo pages (liblzo2) when it re-filters our dump', () => {
    ok(
      spawnSync('makedumpfile', ['-c', '-d', '1', path('lzo1.kd'), path('refiltered.kd')], { encoding: 'utf8' }),
      'makedumpfile -c -d 1 of our lzo dump',
    );
    if (haveKdumpfile) {
      const r = compare(vmcore, path('refiltered.kd'));
      expect(r.differ_count).toBe(0);
      expect(r.absent_nonzero).toBe(0);
    }
  });
});

test('inspect names the compression of our lzo, snappy and zstd dumps from the header flags', () => {
  for (const codec of CODECS) {
    const r = ok(efikdump(['inspect', path(`${codec}1.kd`), '--json']), `inspect ${codec}`);
    expect(JSON.parse(r.stdout).compression).toBe(codec);
  }
});

// Our own readers (convert's input side, verify, inspect) decompress every codec we write: a dump
// of each codec converted again (to zlib, read back by libkdumpfile) holds the input's pages.
(haveKdumpfile ? test.each(CODECS) : test.skip.each(CODECS))(
  'convert reads our %s dump back as its input: the re-converted dump holds every page of the vmcore',
  (codec) => {
    ok(
      efikdump([
        'convert',
        path(`${codec}1.kd`),
        '-o',
        path(`back-${codec}.kd`),
        '--compress',
        'zlib',
        '--dump-level',
        '1',
        '--threads',
        '1',
      ]),
      `convert of our ${codec} dump`,
    );
    const r = compare(vmcore, path(`back-${codec}.kd`));
    expect(r.differ_count).toBe(0);
    expect(r.absent_nonzero).toBe(0);
    expect(r.equal).toBeGreaterThan(30_000);
  },
);
