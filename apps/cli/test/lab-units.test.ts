/** The lab's pieces that need no QEMU: cpio writer, pattern generator, console parsing, footprints. */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, FormatError } from '@efikdump/core';
import { writeCpio } from '../src/lab/cpio';
import { coalesce, footprintDocument, footprintPrediction, readFootprint } from '../src/lab/footprint';
import { labCommandLines, labDesignFile, labZoneBase } from '../src/lab/lab-run';
import { decodePatternFrames, patternPage, patternTruth, sampleIndices, PFN_LIST_MAGIC } from '../src/lab/pattern';
import { parseLabLines } from '../src/lab/serial-events';
import { efikdump, hasCommand, tempDir, toolAvailable } from './helpers';

const haveBusybox = toolAvailable(hasCommand('busybox', ['true']), 'busybox (busybox-static)');

describe('writeCpio', () => {
  (haveBusybox ? test : test.skip)('busybox cpio lists and extracts what we wrote (newc)', () => {
    const tmp = tempDir('cpio');
    try {
      const archive = writeCpio([
        { kind: 'dir', path: 'bin' },
        { kind: 'file', path: 'bin/hello', data: Buffer.from('#!/bin/sh\necho hi\n'), mode: 0o755 },
        { kind: 'file', path: 'odd', data: Buffer.from('x') },
        { kind: 'symlink', path: 'bin/sh', target: 'busybox' },
      ]);
      const file = join(tmp.dir, 'a.cpio');
      writeFileSync(file, archive);
      const list = spawnSync('busybox', ['cpio', '-t', '-F', file], { encoding: 'utf8' });
      expect(list.status).toBe(0);
      expect(list.stdout.trim().split('\n')).toEqual(['bin', 'bin/hello', 'odd', 'bin/sh']);
      const out = join(tmp.dir, 'x');
      mkdirSync(out);
      const ex = spawnSync('busybox', ['cpio', '-i', '-d', '-F', file], { cwd: out, encoding: 'utf8' });
      expect(ex.status).toBe(0);
      expect(readFileSync(join(out, 'bin/hello'), 'utf8')).toBe('#!/bin/sh\necho hi\n');
      expect(readFileSync(join(out, 'odd'), 'utf8')).toBe('x');
    } finally {
      tmp.cleanup();
    }
  });

  test('is deterministic and rejects paths that climb out', () => {
    const entries = [{ kind: 'file' as const, path: 'init', data: Buffer.from('a') }];
    expect(writeCpio(entries).equals(writeCpio(entries))).toBe(true);
    expect(() => writeCpio([{ kind: 'dir', path: '../etc' }])).toThrow(RangeError);
  });
});

describe('pattern pages', () => {
  test('carry magic, seed and index, and differ between pages and seeds', () => {
    const a = patternPage(7, 0);
    const v = new DataView(a.buffer);
    expect(v.getBigUint64(0, true)).toBe(0x3154544150444b45n);
    expect(v.getBigUint64(8, true)).toBe(7n);
    expect(v.getBigUint64(16, true)).toBe(0n);
    expect(Buffer.from(a).equals(Buffer.from(patternPage(7, 1)))).toBe(false);
    expect(Buffer.from(a).equals(Buffer.from(patternPage(8, 0)))).toBe(false);
    expect(Buffer.from(a).equals(Buffer.from(patternPage(7, 0)))).toBe(true);
  });

  test('the frame list decodes, and a damaged one is a FormatError naming the offset', () => {
    const bytes = Buffer.alloc(16 + 3 * 8);
    bytes.writeBigUInt64LE(PFN_LIST_MAGIC, 0);
    bytes.writeUInt32LE(3, 8);
    bytes.writeUInt32LE(7, 12);
    [0x1000, 0, 0x2345].forEach((pfn, i) => bytes.writeBigUInt64LE(BigInt(pfn), 16 + 8 * i));
    expect(decodePatternFrames(bytes, 'disk')).toEqual({ seed: 7, pfns: [0x1000, 0, 0x2345] });
    expect(() => decodePatternFrames(bytes.subarray(0, 20), 'disk')).toThrow(FormatError);
    const bad = Buffer.from(bytes);
    bad[0] ^= 1;
    expect(() => decodePatternFrames(bad, 'disk')).toThrow(/magic/);
  });

  test('the truth samples present pages, hashes the generator output and keeps the exclusions', () => {
    const frames = { seed: 3, pfns: [10, 0, 12, 13] };
    const truth = patternTruth(frames, 10, [[0x2b000000, 0x3b000000]]);
    expect(truth.pages.map((p) => p.paddr)).toEqual([10 * 4096, 12 * 4096, 13 * 4096]);
    expect(truth.pages[1].sha256).toBe(createHash('sha256').update(patternPage(3, 2)).digest('hex'));
    expect(truth.excluded).toEqual([[0x2b000000, 0x3b000000]]);
    const s = sampleIndices(1000, 50, 9);
    expect(new Set(s).size).toBe(50);
    expect(s).toEqual(sampleIndices(1000, 50, 9));
    expect(s.every((i, k) => k === 0 || i > s[k - 1])).toBe(true);
  });
});

describe('console lines', () => {
  test('parse into event and fields, past ANSI escapes, and keep free text', () => {
    const log =
      'junk\r\n\x1b[0mefikdump-loader: handoff status=valid crash-start=0x2B000000 nonce=3\r\n' +
      'efikdump-init: dump-written status=0 uptime=17.69\nefikdump-loader: cmdline console=ttyS0 memmap=exactmap\n';
    const lines = parseLabLines(log);
    expect(lines.map((l) => `${l.source}:${l.event}`)).toEqual(['loader:handoff', 'init:dump-written', 'loader:cmdline']);
    expect(lines[0].fields).toEqual({ status: 'valid', 'crash-start': '0x2B000000', nonce: '3' });
    expect(lines[2].rest).toBe('console=ttyS0 memmap=exactmap');
    expect(parseLabLines(log, lines[1].offset + 1).map((l) => l.event)).toEqual(['cmdline']);
  });
});

describe('footprints', () => {
  const ranges = [
    { start: 0x1200000, end: 0x1201000, pages: 1, zeroPages: 0 },
    { start: 0x1280000, end: 0x16e1000, pages: 1121, zeroPages: 3 },
    { start: 0x3bb8d000, end: 0x3bb9d000, pages: 16, zeroPages: 16 },
  ];

  test('the document sums pages and the prediction merges gaps up to 1 MiB and widens to 64 KiB', () => {
    const doc = footprintDocument(ranges, 1 << 30, 'ovmf', { resetToLoaderMs: 5000 });
    expect(doc.pages).toBe(1138);
    expect(doc.moment).toBe('loader-entry');
    expect(coalesce(ranges, 1 << 20)).toHaveLength(2);
    expect(footprintPrediction(doc)).toBe('0x1200000 0x16f0000\n0x3bb80000 0x3bba0000\n');
  });

  test('a footprint file with a bad range is a ConfigError naming the field', () => {
    const tmp = tempDir('footprint');
    try {
      const doc = footprintDocument(ranges, 1 << 30, 'ovmf', {});
      doc.overwritten[1].end = '0x10';
      const file = join(tmp.dir, 'f.json');
      writeFileSync(file, JSON.stringify(doc));
      let caught: unknown;
      try {
        readFootprint(file);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(ConfigError);
      expect((caught as ConfigError).field).toBe('overwritten[1]');
      expect((caught as ConfigError).file).toBe(file);
    } finally {
      tmp.cleanup();
    }
  });
});

describe('command lines and designs', () => {
  test('the normal boot panics through EFI warm reset; the capture line carries the dump settings', () => {
    const { cmdline, capture } = labCommandLines({
      memoryBytes: 1 << 30,
      kaslr: false,
      action: 'crash',
      patternMiB: 256,
      seed: 7,
      dumpLevel: 1,
      format: 'elf',
    });
    expect(cmdline).toMatch(/reboot=efi,warm panic=1 crashkernel=256M nokaslr efikdump\.action=crash/);
    expect(capture).toMatch(/efikdump\.format=elf efikdump\.dumplevel=1/);
    expect(
      labCommandLines({ memoryBytes: 1 << 30, kaslr: true, action: 'reboot', patternMiB: 0, seed: 7, dumpLevel: 1, format: 'elf' }).cmdline,
    ).not.toMatch(/nokaslr/);
  });

  test('reserved-memory names a MiB-aligned zone in the middle of RAM; efivar names none', () => {
    expect(labDesignFile('efi-warm-efivar', 1 << 30)).toBe('efivar');
    expect(labDesignFile('efi-warm-reserved-memory', 1 << 30)).toBe('reserved-memory 0x1f800000');
    for (const mib of [512, 1024, 2048]) expect(labZoneBase(mib * 1024 * 1024) % (1024 * 1024)).toBe(0);
  });

  test('efikdump lab rejects an unknown design and a bad size with exit code 2 and no stack trace', () => {
    const r = efikdump(['lab', 'run', '--design', 'classic-kexec']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^error: .*--design expects efi-warm-efivar, efi-warm-reserved-memory/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const s = efikdump(['lab', 'run', '--memory', '3GiB', '--out', '/nonexistent/never']);
    expect([2]).toContain(s.status);
    expect(s.stderr).not.toMatch(/\n\s+at /);
  });
});
