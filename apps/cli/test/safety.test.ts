// Issue 12: outputs never destroy what is not theirs, verify is honest, reads are bounded, every
// failure is one line with its documented exit code. Each case reproduces a finding of the issue.
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { encodeLostRanges, LOST_RANGES_NOTE_NAME, NT_EFIKDUMP_LOST_RANGES, PT_LOAD } from '@efikdump/core';
import { ElfCoreFile, KdumpCompressedFile } from '@efikdump/vmcore';
import { main } from '../src/main';
import { BUILTIN_DIR, builtinDesigns, loadDesign } from '../src/library';
import { efikdump, tempDir } from './helpers';
import { capture } from './in-process';

const tmp = tempDir('safety');
const at = (name: string) => join(tmp.dir, name);
const vmcore = at('x.vmcore');
const truth = at('x.truth.json');
const kd1 = at('x1.kd');
const kd31 = at('x31.kd');

async function cli(args: string[]) {
  const io = capture();
  const code = await main(args, io);
  return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n') };
}

/** A one-line error with no stack trace. */
function oneLine(stderr: string): void {
  const lines = stderr
    .trim()
    .split('\n')
    .filter((l) => !/^convert: \[/.test(l));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^error: /);
  expect(stderr).not.toMatch(/\n\s+at /);
}

beforeAll(async () => {
  const r = await cli([
    'run',
    '--design',
    'efi-warm-reserved-memory-ideal-firmware',
    '--memory',
    '256MiB',
    '--cpus',
    '2',
    '--seed',
    '7',
    '--out',
    vmcore,
    '--truth',
    truth,
    '--json',
  ]);
  if (r.code !== 0) throw new Error(r.err);
  for (const [out, level] of [
    [kd1, '1'],
    [kd31, '31'],
  ]) {
    const c = await cli(['convert', vmcore, '-o', out, '--dump-level', level, '--threads', '1', '--json']);
    if (c.code !== 0) throw new Error(c.err);
  }
});
afterAll(() => tmp.cleanup());

/** A copy of `src` under `name`, patched by `patch` (offset → bytes). */
function patched(src: string, name: string, patch: (buf: Buffer) => void): string {
  const buf = readFileSync(src);
  patch(buf);
  writeFileSync(at(name), buf);
  return at(name);
}

describe('outputs never destroy anything that is not theirs', () => {
  test('firmware export --acpi/--vars DIR writes into an existing directory: a user file survives', async () => {
    for (const opt of ['--acpi', '--vars']) {
      const dir = at(`fw${opt}`);
      mkdirSync(dir);
      writeFileSync(join(dir, 'notes'), 'x');
      const r = await cli(['firmware', 'export', '--profile', 'ovmf', opt, dir]);
      expect(r.code).toBe(0);
      expect(readFileSync(join(dir, 'notes'), 'utf8')).toBe('x');
      expect(readdirSync(dir).length).toBeGreaterThan(1);
      // Again: the tables are replaced in place, the user file still there, no temporaries.
      expect((await cli(['firmware', 'export', '--profile', 'ovmf', opt, dir])).code).toBe(0);
      expect(readFileSync(join(dir, 'notes'), 'utf8')).toBe('x');
      expect(readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([]);
    }
  });

  test('run --artifacts DIR keeps a user file in DIR', async () => {
    const dir = at('artifacts');
    mkdirSync(dir);
    writeFileSync(join(dir, 'notes'), 'mine');
    const r = await cli(['run', '--design', 'efi-warm-reserved-memory-ideal-firmware', '--memory', '256MiB', '--artifacts', dir, '--json']);
    expect(r.code).toBe(0);
    expect(readFileSync(join(dir, 'notes'), 'utf8')).toBe('mine');
    expect(existsSync(join(dir, 'handoff.json'))).toBe(true);
  });

  test('convert -o a symlink or a hard link to the input is refused before work, the input intact', async () => {
    const size = statSync(vmcore).size;
    symlinkSync(vmcore, at('sym.vmcore'));
    linkSync(vmcore, at('hard.vmcore'));
    for (const out of [at('sym.vmcore'), at('hard.vmcore')]) {
      const r = await cli(['convert', vmcore, '-o', out]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/is also the input VMCORE/);
      oneLine(r.err);
    }
    expect(statSync(vmcore).size).toBe(size);
    expect(ElfCoreFile.open(vmcore).phdrs.length).toBeGreaterThan(1);
  });

  test('run --out naming the design file is refused; the design is kept', async () => {
    const design = at('design.json');
    copyFileSync(join(BUILTIN_DIR, 'designs', 'efi-warm-reserved-memory.json'), design);
    const before = readFileSync(design, 'utf8');
    const r = await cli(['run', '--design', design, '--out', design]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/is also the input --design/);
    expect(readFileSync(design, 'utf8')).toBe(before);
  });

  test('run --out X --truth X is refused before the run (it used to lose one and exit 0)', async () => {
    const r = await cli([
      'run',
      '--design',
      'efi-warm-reserved-memory-ideal-firmware',
      '--memory',
      '256MiB',
      '--out',
      at('same'),
      '--truth',
      at('same'),
    ]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--truth: is also the output --out/);
    expect(existsSync(at('same'))).toBe(false);
  });

  test('an existing read-only file named by -o, --out or --truth is refused and kept', async () => {
    const ro = at('readonly');
    writeFileSync(ro, 'keep me');
    chmodSync(ro, 0o444);
    for (const args of [
      ['convert', vmcore, '-o', ro],
      ['run', '--design', 'efi-warm-reserved-memory-ideal-firmware', '--memory', '256MiB', '--out', ro],
      ['run', '--design', 'efi-warm-reserved-memory-ideal-firmware', '--memory', '256MiB', '--truth', ro],
    ]) {
      const r = await cli(args);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/read-only/);
    }
    expect(readFileSync(ro, 'utf8')).toBe('keep me');
  });

  test('compare --report FILE fails at once with exit 2, before the sweep', () => {
    const file = at('report-file');
    writeFileSync(file, 'x');
    const r = efikdump([
      'compare',
      '--designs',
      'classic-kexec',
      '--scenarios',
      'healthy',
      '--runs',
      '1',
      '--backend',
      'local',
      '--report',
      file,
    ]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    oneLine(r.stderr);
    expect(r.stderr).toMatch(/--report: exists and is a regular file, not a directory/);
  });
});

describe('verify is honest', () => {
  test('complete: a full dump and a filtered kdump whose level explains what it left out (exit 0)', async () => {
    const full = await cli(['verify', kd1, '--truth', truth]);
    expect(full.code).toBe(0);
    expect(full.out).toMatch(/: complete: (\d+)\/\1 sampled pages match/);
    const filtered = await cli(['verify', kd31, '--truth', truth]);
    expect(filtered.code).toBe(0);
    expect(filtered.out).toMatch(/complete: .* left out by the dump level 31 \(not checked\)/);
  });

  test('an ELF with the headers of a real dump and every PT_LOAD p_filesz 0 is corrupt (exit 5), not "0/0 match"', async () => {
    const core = ElfCoreFile.open(vmcore);
    const { phoff } = core.header;
    const loads = core.phdrs.map((p, i) => ({ p, i })).filter(({ p }) => p.type === PT_LOAD);
    const dataStart = Math.min(...loads.map(({ p }) => p.offset));
    core.close();
    const buf = readFileSync(vmcore).subarray(0, Math.min(dataStart, 1 << 20));
    for (const { i } of loads) buf.writeBigUInt64LE(0n, phoff + i * 56 + 32);
    writeFileSync(at('empty-loads.vmcore'), buf);
    const r = await cli(['verify', at('empty-loads.vmcore'), '--truth', truth]);
    expect(r.code).toBe(5);
    expect(r.err).toMatch(/corrupt: no page .* could be checked/);
    oneLine(r.err);
  });

  test('a kdump-compressed file whose second bitmap is cleared is corrupt (exit 5)', async () => {
    const d = KdumpCompressedFile.open(kd31);
    const { bitmap1Offset, bitmapBytes } = d;
    d.close();
    const f = patched(kd31, 'cleared-bitmap2.kd', (b) => b.fill(0, bitmap1Offset + bitmapBytes, bitmap1Offset + 2 * bitmapBytes));
    const r = await cli(['verify', f, '--truth', truth]);
    expect(r.code).toBe(5);
    expect(r.err).toMatch(/corrupt/);
  });

  test('a truth file with empty page lists verifies nothing: exit 5', async () => {
    writeFileSync(
      at('empty-truth.json'),
      JSON.stringify({ format: 'efikdump-truth/1', pageSize: 4096, pages: [], zeroPages: [], excluded: [] }),
    );
    const r = await cli(['verify', vmcore, '--truth', at('empty-truth.json')]);
    expect(r.code).toBe(5);
    expect(r.err).toMatch(/no page .* could be checked/);
  });

  test('pages excluded by a bitmap the declared dump level cannot explain are missing, not "left out" (exit 5)', async () => {
    // The -d 31 file relabelled as dump level 1: level 1 excludes zero pages only, not pages with content.
    const d = KdumpCompressedFile.open(kd31);
    const bs = d.pageSize;
    d.close();
    const f = patched(kd31, 'relabelled.kd', (b) => b.writeInt32LE(1, bs + 8));
    const r = await cli(['verify', f, '--truth', truth]);
    expect(r.code).toBe(5);
    expect(r.err).toMatch(/missing without a declared reason; .*excluded in the bitmaps, dump level 1/);
  });

  test('a dump whose PT_NOTE inspect rejects is rejected by verify with the same error', async () => {
    const core = ElfCoreFile.open(vmcore);
    const note = core.phdrs.find((p) => p.type === 4)!;
    core.close();
    const f = patched(vmcore, 'bad-note.vmcore', (b) => b.writeUInt32LE(0x7fffffff, note.offset));
    const i = await cli(['inspect', f]);
    const v = await cli(['verify', f, '--truth', truth]);
    expect(i.code).toBe(3);
    expect(v.code).toBe(3);
    expect(v.err).toBe(i.err);
  });

  /** The ELF dump with one PT_LOAD turned into PT_NULL, and optionally a lost-ranges note declaring its range. */
  function withoutSegment(name: string, declare: boolean): { file: string; start: number; end: number } {
    const core = ElfCoreFile.open(vmcore);
    const { phoff } = core.header;
    const truthDoc = JSON.parse(readFileSync(truth, 'utf8')) as { pages: { paddr: number }[] };
    // The smallest segment that holds some truth pages, but not all of them.
    const [victim] = core.phdrs
      .map((p, i) => ({ p, i }))
      .filter(({ p }) => p.type === PT_LOAD && truthDoc.pages.some((t) => t.paddr >= p.paddr && t.paddr < p.paddr + p.memsz))
      .filter(({ p }) => !truthDoc.pages.every((t) => t.paddr >= p.paddr && t.paddr < p.paddr + p.memsz))
      .sort((a, b) => a.p.memsz - b.p.memsz);
    const note = core.phdrs.map((p, i) => ({ p, i })).find(({ p }) => p.type === 4)!;
    const dataStart = Math.min(...core.phdrs.filter((p) => p.type === PT_LOAD && p.filesz > 0).map((p) => p.offset));
    core.close();
    const start = victim.p.paddr;
    const end = victim.p.paddr + victim.p.memsz;
    const file = patched(vmcore, name, (b) => {
      b.writeUInt32LE(0, phoff + victim.i * 56); // PT_NULL
      if (!declare) return;
      const desc = encodeLostRanges([{ start, end, reason: 'firmware-footprint' }]);
      const nameBytes = Buffer.from(LOST_RANGES_NOTE_NAME + '\0');
      const pad = (n: number) => (n + 3) & ~3;
      const rec = Buffer.alloc(12 + pad(nameBytes.length) + pad(desc.length));
      rec.writeUInt32LE(nameBytes.length, 0);
      rec.writeUInt32LE(desc.length, 4);
      rec.writeUInt32LE(NT_EFIKDUMP_LOST_RANGES, 8);
      nameBytes.copy(rec, 12);
      Buffer.from(desc).copy(rec, 12 + pad(nameBytes.length));
      const noteEnd = note.p.offset + note.p.filesz;
      if (noteEnd + rec.length > dataStart) throw new Error('no room after the notes for the lost-ranges note');
      rec.copy(b, noteEnd);
      const grown = BigInt(note.p.filesz + rec.length);
      b.writeBigUInt64LE(grown, phoff + note.i * 56 + 32);
      b.writeBigUInt64LE(grown, phoff + note.i * 56 + 40);
    });
    return { file, start, end };
  }

  test('partial: pages absent where the lost-ranges note declares them lost (exit 1, counted)', async () => {
    const { file } = withoutSegment('declared.vmcore', true);
    const r = await cli(['verify', file, '--truth', truth]);
    expect(r.err).toBe('');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(
      /: partial: \d+\/\d+ sampled pages match .*; (\d+) pages declared lost \(\1 in the lost-ranges note \(1 ranges, \d+ pages\)\)/,
    );
  });

  test('corrupt: the same pages absent with no declaration (exit 5)', async () => {
    const { file } = withoutSegment('undeclared.vmcore', false);
    const r = await cli(['verify', file, '--truth', truth]);
    expect(r.code).toBe(5);
    expect(r.err).toMatch(/corrupt: \d+ truth pages are missing without a declared reason/);
  });

  test('partial: frames lost in an INCOMPLETE kdump-compressed dump are declared by its header (exit 1)', async () => {
    const d = KdumpCompressedFile.open(kd1);
    const descOffset = d.descOffset;
    const n = d.dumpedFrames();
    d.close();
    // The writer was "interrupted" after half the pages: status INCOMPLETE, the rest of the descriptors zero.
    const f = patched(kd1, 'incomplete.kd', (b) => {
      b.writeUInt32LE(b.readUInt32LE(424) | 0x8, 424);
      b.fill(0, descOffset + Math.floor(n / 2) * 24, descOffset + n * 24);
    });
    const r = await cli(['verify', f, '--truth', truth]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/partial: .*pages declared lost \(\d+ frames of an INCOMPLETE dump\)/);
    // convert refuses it instead of writing a dump that claims to be complete.
    const c = await cli(['convert', f, '-o', at('from-incomplete.kd')]);
    expect(c.code).toBe(2);
    expect(c.err).toMatch(/INCOMPLETE kdump-compressed dump/);
    expect(existsSync(at('from-incomplete.kd'))).toBe(false);
  });
});

describe('bounded reads and one-line failures', () => {
  test('no file-reading command hangs on a FIFO: each fails at once with exit 6', () => {
    const fifo = at('fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const cases: string[][] = [
      ['inspect', fifo],
      ['verify', fifo, '--truth', truth],
      ['verify', vmcore, '--truth', fifo],
      ['convert', fifo, '-o', at('fifo-out.kd')],
      ['run', '--design', fifo],
      ['run', '--scenario', fifo],
      ['firmware', 'export', '--profile', fifo, '--fd', at('fifo.fd')],
      ['firmware', 'list', '--fd', fifo],
      ['compare', '--designs', fifo, '--report', at('fifo-report')],
      ['probe', 'retention', '--compare', fifo, '--out', at('fifo-profile.json')],
    ];
    for (const args of cases) {
      const r = efikdump(args, 20_000);
      expect({ args, status: r.status, signal: r.signal }).toEqual({ args, status: 6, signal: null });
      oneLine(r.stderr);
      expect(r.stderr).toMatch(/FIFO/);
    }
  });

  test('/dev/zero as a JSON input is refused at once, not read until memory runs out', () => {
    for (const args of [
      ['run', '--design', '/dev/zero'],
      ['verify', vmcore, '--truth', '/dev/zero'],
      ['compare', '--scenarios', '/dev/zero', '--report', at('zero-report')],
    ]) {
      const r = efikdump(args, 20_000);
      expect(r.status).toBe(6);
      expect(r.stderr).toMatch(/character device/);
    }
  });

  test('a directory as input to inspect, verify or convert is exit 6 with one line, not exit 70', async () => {
    for (const args of [
      ['inspect', tmp.dir],
      ['verify', tmp.dir, '--truth', truth],
      ['convert', tmp.dir, '-o', at('dir-out.kd')],
    ]) {
      const r = await cli(args);
      expect(r.code).toBe(6);
      oneLine(r.err);
      expect(r.err).toMatch(/expected a regular file, found a directory/);
    }
  });

  test('convert of a kdump file truncated mid-data prints one line and exits 3, no IoError stack from the pool', () => {
    const f = at('truncated.kd');
    writeFileSync(f, readFileSync(kd1).subarray(0, Math.floor(statSync(kd1).size / 2)));
    const r = efikdump(['convert', f, '-o', at('from-truncated.kd'), '--threads', '2']);
    expect(r.status).toBe(3);
    oneLine(r.stderr);
    expect(r.stderr).not.toMatch(/IoError|compression worker/);
    expect(existsSync(at('from-truncated.kd'))).toBe(false);
  });

  test('a design whose detector cannot read its transport is refused with exit 2 naming both slots', async () => {
    const design = JSON.parse(readFileSync(join(BUILTIN_DIR, 'designs', 'efi-warm-reserved-memory.json'), 'utf8'));
    design.name = 'unpaired';
    design.components.transport = 'efi-variable';
    writeFileSync(at('unpaired.json'), JSON.stringify(design));
    for (const args of [
      ['run', '--design', at('unpaired.json')],
      ['compare', '--designs', at('unpaired.json'), '--report', at('unpaired-report')],
    ]) {
      const r = await cli(args);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(
        /components\.detector: detector "reserved-memory-magic" reads only .* not "efi-variable" \(components\.transport\)/,
      );
    }
    expect(existsSync(at('unpaired-report'))).toBe(false);
  });

  test('every built-in design pairs its detector with a transport it reads', () => {
    const names = builtinDesigns().map((d) => d.name);
    expect(names.length).toBeGreaterThan(5);
    for (const name of names) expect(loadDesign(name).name).toBe(name);
  });

  test('run refuses up front what its writer ignores or cannot do: --compress/--threads with the elf writer, an unknown codec', async () => {
    for (const opt of [
      ['--compress', 'zlib'],
      ['--threads', '2'],
    ]) {
      const r = await cli(['run', '--design', 'efi-warm-reserved-memory-ideal-firmware', '--memory', '256MiB', ...opt]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/writer "elf" holds pages uncompressed and ignores --/);
      expect(r.out).toBe('');
    }
    const design = JSON.parse(readFileSync(join(BUILTIN_DIR, 'designs', 'efi-warm-reserved-memory.json'), 'utf8'));
    design.name = 'kdump-writer';
    design.components.writer = 'kdump-compressed';
    writeFileSync(at('kdump-writer.json'), JSON.stringify(design));
    const lz4 = await cli(['run', '--design', at('kdump-writer.json'), '--memory', '256MiB', '--compress', 'lz4']);
    expect(lz4.code).toBe(2);
    expect(lz4.err).toMatch(/Unknown compression: lz4/);
    expect(lz4.out).toBe(''); // no timeline: refused before the simulation
  });
});
