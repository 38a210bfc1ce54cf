// Fuzzing the dump readers and the other decoders of outside data in vmcore (issue 12): the ELF
// and kdump-compressed file readers (through everything inspect and verify call), the note
// decoder, the elfcorehdr parser and page decompression. Arbitrary and mutated-valid inputs either
// work or throw one of our typed errors, and what comes back is bounded by the input's size.
// A failure prints fast-check's seed and counterexample: add the input to the property's
// `examples` so it stays a regression case. FUZZ_RUNS scales every property (default 1).
import { readFileSync, writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import fc from 'fast-check';
import { EfikdumpError } from '@efikdump/core';
import { decodeNotes } from '../elfcorehdr/notes';
import { parseElfCoreHeader } from '../elfcorehdr/parse-elfcorehdr';
import { ElfImageSource } from '../source/elf-image-source';
import { buildCoreFixture, FIXTURE_HDR_PADDR, FIXTURE_HDR_SIZE } from '../testing/core-fixture';
import { buildImage, kindRuns, tempDir, writeImage } from '../testing/vmcore-image';
import { decompressPage } from '../writers/kdump-compressed/compression';
import {
  DUMP_DH_COMPRESSED_LZO,
  DUMP_DH_COMPRESSED_SNAPPY,
  DUMP_DH_COMPRESSED_ZLIB,
  DUMP_DH_COMPRESSED_ZSTD,
} from '../writers/kdump-compressed/diskdump.codec';
import { writeKdumpCompressed } from '../writers/kdump-compressed/kdump-compressed.writer';
import { openDumpFile } from './dump-file';
import { ElfCoreFile } from './elf-core-file';

const RUNS = (n: number) => Math.max(1, Math.round(n * Number(process.env.FUZZ_RUNS ?? 1)));

function footprint(x: unknown, seen = new Set<unknown>()): number {
  if (typeof x === 'string') return x.length;
  if (typeof x !== 'object' || x === null) return 8;
  if (seen.has(x)) return 0;
  seen.add(x);
  if (ArrayBuffer.isView(x)) return x.byteLength;
  if (x instanceof Map) return [...x].reduce((n, [k, v]) => n + footprint(k, seen) + footprint(v, seen), 0);
  if (Array.isArray(x)) return x.reduce((n: number, v) => n + 8 + footprint(v, seen), 0);
  return Object.entries(x).reduce((n, [k, v]) => n + k.length + footprint(v, seen), 0);
}

/** `decode` throws an EfikdumpError or returns at most `perByte` × size + `fixed` bytes of data. */
function typedAndBounded(size: number, decode: () => unknown, perByte = 32, fixed = 64 * 1024): void {
  let out: unknown;
  try {
    out = decode();
  } catch (e) {
    if (e instanceof EfikdumpError) return;
    throw e;
  }
  expect(footprint(out)).toBeLessThanOrEqual(perByte * size + fixed);
}

/** `valid` with bytes replaced, interesting words at aligned offsets (mostly in the first `hot` bytes), maybe truncated. */
function mutated(valid: Uint8Array, hot = valid.length): fc.Arbitrary<Uint8Array> {
  const word = fc.constantFrom(0, 1, 2, 0x1000, 0x7fffffff, 0x80000000, 0xffffffff);
  return fc
    .tuple(
      fc.array(fc.tuple(fc.nat({ max: hot - 1 }), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      fc.array(fc.tuple(fc.nat({ max: (hot >> 2) - 1 }), word, fc.boolean()), { maxLength: 3 }),
      fc.option(fc.nat({ max: valid.length }), { nil: undefined }),
    )
    .map(([bytes, words, cut]) => {
      const b = Uint8Array.from(valid);
      const v = new DataView(b.buffer);
      for (const [pos, value] of bytes) b[pos] = value;
      for (const [slot, value, high] of words) {
        v.setUint32(slot * 4, value, true);
        if (high && slot * 4 + 8 <= b.length) v.setUint32(slot * 4 + 4, value, true);
      }
      return cut === undefined ? b : b.subarray(0, cut);
    });
}

describe('dump files: ELF and kdump-compressed, through what inspect and verify read', () => {
  const tmp = tempDir('readers-fuzz');
  afterAll(() => tmp.cleanup());
  const image = buildImage({ ram: [{ start: 0, end: 0x200000 }], kindOf: kindRuns(['text', 'zero', 'random', 'slab'], 3) });
  const elfPath = writeImage(tmp.file('in.vmcore'), image);
  let elf: Uint8Array;
  let kdump: Uint8Array;
  beforeAll(async () => {
    elf = readFileSync(elfPath);
    const source = ElfImageSource.open(elfPath);
    await writeKdumpCompressed(source, tmp.file('good.kd'), { compress: 'zlib', dumpLevel: 1, threads: 1 });
    source.close();
    kdump = readFileSync(tmp.file('good.kd'));
  });

  /** Everything inspect and verify ask of a dump file; returns what it produced. */
  function readEverything(bytes: Uint8Array): unknown {
    const path = tmp.file('fuzz.dump');
    writeFileSync(path, bytes);
    const file = openDumpFile(path);
    try {
      const produced: unknown[] = [file.notes(), file.vmcoreinfo(), file.prstatus()];
      const page = new Uint8Array(4096);
      if (file instanceof ElfCoreFile) {
        for (let paddr = 0; paddr < 0x200000; paddr += 0x20000) {
          produced.push(file.byteState(paddr));
          file.readPhys(paddr, page);
        }
      } else {
        produced.push(file.dumpedFrames());
        const bitmap = new Uint8Array(64);
        file.readBitmap(1, 0, bitmap);
        file.readBitmap(2, 0, bitmap);
        for (let pfn = 0; pfn < Math.min(file.maxMapnr, 600); pfn += 7) {
          produced.push(file.frameState(pfn));
          file.readFrame(pfn, new Uint8Array(file.pageSize));
        }
      }
      return produced;
    } finally {
      file.close();
    }
  }

  test('the valid samples read whole (mutations start from real files)', () => {
    expect(() => readEverything(elf)).not.toThrow();
    expect(() => readEverything(kdump)).not.toThrow();
  });

  test('arbitrary bytes, with or without a magic, fail with our errors', () => {
    const magic = fc.constantFrom(
      new Uint8Array(0),
      Uint8Array.of(0x7f, 0x45, 0x4c, 0x46, 2, 1, 1),
      new TextEncoder().encode('KDUMP   '),
      new TextEncoder().encode('DISKDUMP'),
    );
    fc.assert(
      fc.property(magic, fc.uint8Array({ maxLength: 8192 }), (m, rest) => {
        const b = Uint8Array.from([...m, ...rest]);
        typedAndBounded(b.length, () => readEverything(b));
      }),
      { numRuns: RUNS(150) },
    );
  });

  test('mutated valid ELF files (headers, program headers, notes) fail with our errors', () => {
    fc.assert(
      fc.property(mutated(elf, 8192), (b) => typedAndBounded(b.length, () => readEverything(b))),
      { numRuns: RUNS(200) },
    );
  });

  test('mutated valid kdump-compressed files (headers, sub header, bitmaps, descriptors) fail with our errors', () => {
    fc.assert(
      fc.property(mutated(kdump, 6 * 4096), (b) => typedAndBounded(b.length, () => readEverything(b))),
      { numRuns: RUNS(200) },
    );
  });
});

describe('notes, elfcorehdr, page decompression', () => {
  const fx = buildCoreFixture();

  test('the note decoder', () => {
    const notes = new Uint8Array(368 * 2);
    fx.memory.read(0xf00000, notes.subarray(0, 368));
    fx.memory.read(0xf00400, notes.subarray(368));
    expect(decodeNotes(notes.subarray(0, 368)).length).toBeGreaterThan(0);
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 1024 }), mutated(notes)), (b) => typedAndBounded(b.length, () => decodeNotes(b))),
      { numRuns: RUNS(400) },
    );
  });

  test('the elfcorehdr parser, over a mutated header in old memory', () => {
    const read = (paddr: number, dst: Uint8Array) => fx.memory.read(paddr, dst);
    const opts = { isRam: (p: number, s: number) => fx.memory.isRam(p, s) };
    expect(parseElfCoreHeader(read, FIXTURE_HDR_PADDR, FIXTURE_HDR_SIZE, opts).loads.length).toBeGreaterThan(0);
    fc.assert(
      fc.property(mutated(fx.hdr, 64 + 8 * 56), fc.integer({ min: 0, max: 2 * FIXTURE_HDR_SIZE }), (b, size) => {
        const saved = new Uint8Array(FIXTURE_HDR_SIZE);
        fx.memory.read(FIXTURE_HDR_PADDR, saved);
        fx.memory.write(FIXTURE_HDR_PADDR, new Uint8Array(FIXTURE_HDR_SIZE));
        fx.memory.write(FIXTURE_HDR_PADDR, b.subarray(0, FIXTURE_HDR_SIZE));
        try {
          typedAndBounded(FIXTURE_HDR_SIZE, () => parseElfCoreHeader(read, FIXTURE_HDR_PADDR, size, opts), 64);
        } finally {
          fx.memory.write(FIXTURE_HDR_PADDR, saved);
        }
      }),
      { numRuns: RUNS(300) },
    );
  });

  test('page decompression never produces more than a page', () => {
    const page = new Uint8Array(4096).map((_, i) => (i * 7) & 0xff);
    const zlib = new Uint8Array(deflateSync(page));
    const flags = fc.constantFrom(
      0,
      DUMP_DH_COMPRESSED_ZLIB,
      DUMP_DH_COMPRESSED_LZO,
      DUMP_DH_COMPRESSED_SNAPPY,
      DUMP_DH_COMPRESSED_ZSTD,
      0xff,
    );
    fc.assert(
      fc.property(flags, fc.oneof(fc.uint8Array({ maxLength: 5000 }), mutated(zlib)), fc.constantFrom(4096, 16384), (f, data, pageSize) => {
        try {
          const out = decompressPage(f, data, pageSize, { file: 'fuzz' });
          expect(out.length).toBe(pageSize);
        } catch (e) {
          expect(e).toBeInstanceOf(EfikdumpError);
        }
      }),
      { numRuns: RUNS(400) },
    );
  });
});
