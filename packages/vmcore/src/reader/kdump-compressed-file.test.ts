import { readFileSync, writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { EfikdumpError, FormatError } from '@efikdump/core';
import { ElfImageSource } from '../source/elf-image-source';
import { buildImage, kindRuns, PS, tempDir, writeImage } from '../testing/vmcore-image';
import {
  decodeDiskDumpHeader,
  decodeKdumpSubHeader,
  decodePageDesc,
  DISK_DUMP_HEADER_BYTES,
  emptyUtsname,
  encodeDiskDumpHeader,
  encodeKdumpSubHeader,
  encodePageDesc,
  KDUMP_SUB_HEADER_BYTES,
  PAGE_DESC_BYTES,
  type DiskDumpHeader,
  type KdumpSubHeader,
} from '../writers/kdump-compressed/diskdump.codec';
import { lzo1xDecompress } from '../writers/kdump-compressed/lzo1x';
import { writeKdumpCompressed } from '../writers/kdump-compressed/kdump-compressed.writer';
import { openDumpFile } from './dump-file';
import { KdumpCompressedFile } from './kdump-compressed-file';

/** Runs `fn`; anything it throws must be one of our errors (FormatError, IoError...), never a TypeError, RangeError... */
function onlyOurErrors(fn: () => void): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof EfikdumpError)) throw e;
  }
}

const ascii = (max: number) => fc.string({ maxLength: max }).map((s) => s.replace(/[^\x20-\x7e]/g, 'x'));

describe('diskdump codec', () => {
  test('decode(encode(header)) == header', () => {
    fc.assert(
      fc.property(
        fc.record({
          headerVersion: fc.integer({ min: 0, max: 6 }),
          status: fc.integer({ min: 0, max: 0x3f }),
          blockSize: fc.constantFrom(4096, 16384, 65536),
          subHdrSize: fc.integer({ min: 0, max: 1000 }),
          bitmapBlocks: fc.nat(),
          maxMapnr: fc.nat(),
          nrCpus: fc.integer({ min: 0, max: 8192 }),
          timestampSec: fc.integer({ min: 0, max: 2 ** 40 }),
          currentCpu: fc.nat(),
          release: ascii(64),
          machine: ascii(64),
        }),
        (x) => {
          const h: DiskDumpHeader = {
            signature: 'KDUMP   ',
            headerVersion: x.headerVersion,
            utsname: { ...emptyUtsname(), release: x.release, machine: x.machine },
            timestampSec: x.timestampSec,
            timestampUsec: 0,
            status: x.status,
            blockSize: x.blockSize,
            subHdrSize: x.subHdrSize,
            bitmapBlocks: x.bitmapBlocks,
            maxMapnr: x.maxMapnr,
            totalRamBlocks: 0,
            deviceBlocks: 0,
            writtenBlocks: 0,
            currentCpu: x.currentCpu,
            nrCpus: x.nrCpus,
          };
          expect(decodeDiskDumpHeader(encodeDiskDumpHeader(h))).toEqual(h);
        },
      ),
    );
  });

  test('decode(encode(sub header)) == sub header, and page descriptors too', () => {
    const n = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
    fc.assert(
      fc.property(
        fc.record({
          physBase: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
          dumpLevel: fc.integer({ min: 0, max: 31 }),
          split: fc.constantFrom(0, 1),
          startPfn: n,
          endPfn: n,
          offsetVmcoreinfo: n,
          sizeVmcoreinfo: n,
          offsetNote: n,
          sizeNote: n,
          offsetEraseinfo: n,
          sizeEraseinfo: n,
          startPfn64: n,
          endPfn64: n,
          maxMapnr64: n,
        }),
        fc.record({ offset: n, size: fc.nat(), flags: fc.nat(), pageFlags: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }),
        (s: KdumpSubHeader, d) => {
          expect(decodeKdumpSubHeader(encodeKdumpSubHeader(s), 6)).toEqual(s);
          expect(decodePageDesc(encodePageDesc(d), 0)).toEqual(d);
        },
      ),
    );
  });

  test('random bytes decode or fail with a FormatError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.integer({ min: 0, max: 7 }), (bytes, version) => {
        onlyOurErrors(() => decodeDiskDumpHeader(bytes));
        onlyOurErrors(() => decodeKdumpSubHeader(bytes, version));
        onlyOurErrors(() => decodePageDesc(bytes, 0));
      }),
      { numRuns: 500 },
    );
    expect(() => decodeDiskDumpHeader(new Uint8Array(DISK_DUMP_HEADER_BYTES))).toThrow(FormatError);
    expect(() => decodeKdumpSubHeader(new Uint8Array(KDUMP_SUB_HEADER_BYTES - 1), 6)).toThrow(FormatError);
  });
});

describe('lzo1xDecompress', () => {
  test('a literal run and the end marker', () => {
    const stream = Uint8Array.from([17 + 4, 0x61, 0x62, 0x63, 0x64, 0x11, 0, 0]);
    expect(Buffer.from(lzo1xDecompress(stream, 4096, {})).toString()).toBe('abcd');
  });

  test('a literal run, a back-reference (M2) and the end marker', () => {
    // "abcd" then copy 3 bytes from distance 4: M2 with length 3 (t>>5 = 2) and distance-1 = 3: t = (2<<5) | ((3&7)<<2), next byte 3>>3 = 0
    const stream = Uint8Array.from([17 + 4, 0x61, 0x62, 0x63, 0x64, (2 << 5) | (3 << 2), 0, 0x11, 0, 0]);
    expect(Buffer.from(lzo1xDecompress(stream, 4096, {})).toString()).toBe('abcdabc');
  });

  test('random and mutated streams fail with a FormatError or decode within the bound, without hanging', () => {
    const valid = [17 + 4, 0x61, 0x62, 0x63, 0x64, (2 << 5) | (3 << 2), 0, 0x11, 0, 0];
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }).map((edits) => {
            const b = Uint8Array.from(valid);
            for (const [i, v] of edits) b[i] = v;
            return b;
          }),
        ),
        fc.constantFrom(16, 4096),
        (bytes, max) => {
          try {
            expect(lzo1xDecompress(bytes, max, { file: 'x', offset: 0 }).length).toBeLessThanOrEqual(max);
          } catch (e) {
            expect(e).toBeInstanceOf(FormatError);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('KdumpCompressedFile', () => {
  const tmp = tempDir('kdump-reader');
  afterAll(() => tmp.cleanup());
  const image = buildImage({ ram: [{ start: 0, end: 0x300000 }], kindOf: kindRuns(['text', 'zero', 'random', 'slab'], 3) });
  const input = writeImage(tmp.file('in.vmcore'), image);
  let good: Buffer;
  beforeAll(async () => {
    const source = ElfImageSource.open(input);
    await writeKdumpCompressed(source, tmp.file('good.kd'), { compress: 'zlib', dumpLevel: 1, threads: 1 });
    source.close();
    good = readFileSync(tmp.file('good.kd'));
  });

  /** Opens `bytes` as a kdump file and reads everything it offers; returns the frames read. */
  function readEverything(bytes: Uint8Array): number {
    const path = tmp.file('fuzz.kd');
    writeFileSync(path, bytes);
    let frames = 0;
    onlyOurErrors(() => {
      const file = openDumpFile(path);
      try {
        file.notes();
        file.vmcoreinfo();
        file.prstatus();
        if (file instanceof KdumpCompressedFile) {
          const page = new Uint8Array(file.pageSize);
          const limit = Math.min(file.maxMapnr, 4096);
          for (let pfn = 0; pfn < limit; pfn++) {
            file.frameState(pfn);
            if (file.readFrame(pfn, page)) frames++;
          }
        }
      } finally {
        file.close();
      }
    });
    return frames;
  }

  test('reads every frame of a good file', () => {
    expect(readEverything(good)).toBe(0x300000 / PS);
  });

  test('mutated and truncated files end in FormatError or IoError, never another exception or a hang', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
        fc.option(fc.nat(), { nil: undefined }),
        fc.constantFrom(0, 1, 2),
        (edits, cut, region) => {
          const b = Uint8Array.from(good);
          // aim edits at the headers, the bitmaps and descriptors, or anywhere
          const span = region === 0 ? 2 * PS : region === 1 ? Math.min(b.length, 6 * PS) : b.length;
          for (const [i, v] of edits) b[i % span] = v;
          const bytes = cut === undefined ? b : b.subarray(0, cut % b.length);
          readEverything(bytes);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('a header claiming huge bitmaps or max_mapnr is refused before anything is allocated', () => {
    const b = Uint8Array.from(good);
    const v = new DataView(b.buffer);
    v.setUint32(436, 0x7ffffffe, true); // bitmap_blocks
    writeFileSync(tmp.file('huge.kd'), b);
    expect(() => KdumpCompressedFile.open(tmp.file('huge.kd'))).toThrow(
      /sub_hdr_size and bitmap_blocks: expected headers and bitmaps inside/,
    );
    const c = Uint8Array.from(good);
    new DataView(c.buffer).setBigUint64(PS + 96, 1n << 40n, true); // max_mapnr_64
    writeFileSync(tmp.file('mapnr.kd'), c);
    expect(() => KdumpCompressedFile.open(tmp.file('mapnr.kd'))).toThrow(/max_mapnr: expected at most \d+ frames/);
  });

  test('a descriptor pointing outside the file is a FormatError naming the descriptor', () => {
    const file0 = KdumpCompressedFile.open(tmp.file('good.kd'));
    const descAt = file0.descOffset;
    file0.close();
    const b = Uint8Array.from(good);
    new DataView(b.buffer).setBigInt64(descAt, BigInt(b.length + 100), true);
    writeFileSync(tmp.file('desc.kd'), b);
    const file = KdumpCompressedFile.open(tmp.file('desc.kd'));
    let error: FormatError | undefined;
    try {
      file.readFrame(0, new Uint8Array(PS));
    } catch (e) {
      error = e as FormatError;
    }
    file.close();
    expect(error).toBeInstanceOf(FormatError);
    expect(error!.describe()).toMatch(
      new RegExp(`desc\\.kd:0x${descAt.toString(16)}: page descriptor: expected 1\\.\\.4096 bytes of data inside`),
    );
    expect(PAGE_DESC_BYTES).toBe(24);
  });
});
