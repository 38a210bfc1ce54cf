import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { deflateSync, inflateSync } from 'node:zlib';
import { FormatError } from '@efikdump/core';
import { KdumpCompressedFile } from '../../reader/kdump-compressed-file';
import { ElfImageSource } from '../../source/elf-image-source';
import { StructPageClassifier } from '../../dump-level/struct-page-classifier';
import { buildImage, frameBytes, kindRuns, PS, tempDir, writeImage, type ImageSpec } from '../../testing/vmcore-image';
import { expectSameBytes } from '../../testing/run-context';
import { decodeDiskDumpHeader, DUMP_DH_COMPRESSED_ZLIB, DUMP_DH_COMPRESSED_ZSTD, PAGE_DESC_BYTES } from './diskdump.codec';
import { compressionFlag, decompressPage } from './compression';
import { LZO1X1_DICT_ENTRIES, lzo1x1Compress, lzo1xBound } from './lzo1x-compress';
import { writeKdumpCompressed } from './kdump-compressed.writer';
import { classifyBatch, CompressPool, PAGE_RAW, PAGE_TRY, PAGE_ZERO, RANDOM_PAGE_DISTINCT } from './compress-pool';

const SPEC: ImageSpec = {
  ram: [
    { start: 0x1000, end: 0x9fc00 },
    { start: 0x100000, end: 0x700000 },
  ],
  kindOf: kindRuns(['text', 'zero', 'random', 'slab', 'zero', 'text'], 5),
  kernelText: { paddr: 0x200000, size: 0x100000 },
};

function lzoOf(page: Uint8Array): Uint8Array {
  const dst = new Uint8Array(lzo1xBound(page.length));
  return dst.slice(0, lzo1x1Compress(page, 0, page.length, dst, new Int32Array(LZO1X1_DICT_ENTRIES), 1));
}

function readAll(file: KdumpCompressedFile, maxPfn: number) {
  const page = new Uint8Array(PS);
  const got = new Map<number, Uint8Array>();
  for (let pfn = 0; pfn < maxPfn; pfn++) if (file.readFrame(pfn, page)) got.set(pfn, page.slice());
  return got;
}

describe('writeKdumpCompressed', () => {
  const tmp = tempDir('kdump-writer');
  afterAll(() => tmp.cleanup());
  const image = buildImage(SPEC);
  const input = writeImage(tmp.file('in.vmcore'), image);
  const ramFrames = (pfn: number) => SPEC.ram.some((r) => pfn * PS < r.end && (pfn + 1) * PS > r.start);

  test.each([
    ['zlib', 1],
    ['zlib', 0],
    ['none', 1],
    ['none', 0],
    ['lzo', 1],
    ['snappy', 1],
    ['lzo', 0],
    ['zstd', 1],
    ['snappy', 0],
    ['zstd', 0],
  ] as const)('--compress %s --dump-level %d: every RAM frame reads back as it was', async (compress, level) => {
    const out = tmp.file(`out-${compress}-${level}.kd`);
    const source = ElfImageSource.open(input);
    const r = await writeKdumpCompressed(source, out, { compress, dumpLevel: level, threads: 2 });
    source.close();
    const file = KdumpCompressedFile.open(out);
    try {
      expect(file.header.headerVersion).toBe(6);
      expect(file.header.signature).toBe('KDUMP   ');
      expect(file.header.status).toBe(compressionFlag[compress]);
      expect(file.header.nrCpus).toBe(2);
      expect(file.header.timestampSec).toBe(1767225700);
      expect(file.subHeader.dumpLevel).toBe(level);
      expect(file.maxMapnr).toBe(image.maxPfn);
      expect(file.vmcoreinfo()?.get('OSRELEASE')).toBe('6.1.0-test');
      expect(file.prstatus().map((c) => c.pid)).toEqual([42, 0]);
      const got = readAll(file, image.maxPfn);
      for (let pfn = 0; pfn < image.maxPfn; pfn++) {
        if (!ramFrames(pfn)) {
          expect(got.has(pfn)).toBe(false);
          continue;
        }
        expectSameBytes(got.get(pfn)!, image.phys.subarray(pfn * PS, (pfn + 1) * PS));
      }
      expect(r.dumpedFrames).toBe(got.size);
      expect(r.ramFrames).toBe(got.size);
      // With bit 1, every zero frame shares one descriptor target: the zero page written first.
      const zeros = [...got].filter(([, p]) => p.every((b) => b === 0)).map(([pfn]) => pfn);
      expect(zeros.length).toBeGreaterThan(10);
      const targets = new Set(zeros.map((pfn) => file.descriptorOf(pfn).offset));
      if (level & 1) {
        expect(targets.size).toBe(1);
        expect(r.zeroFrames).toBe(zeros.length);
        expect([...targets][0]).toBe(file.descOffset + r.dumpedFrames * PAGE_DESC_BYTES);
      } else {
        expect(targets.size).toBe(zeros.length);
      }
      // Random frames do not shrink: stored raw, flags 0.
      const randomPfn = [...got.keys()].find((pfn) => SPEC.kindOf(pfn) === 'random')!;
      expect(file.descriptorOf(randomPfn)).toMatchObject({ size: PS, flags: 0 });
      if (compress !== 'none') {
        const textPfn = [...got.keys()].find((pfn) => SPEC.kindOf(pfn) === 'text')!;
        const d = file.descriptorOf(textPfn);
        expect(d.flags).toBe(compressionFlag[compress]);
        expect(d.size).toBeLessThan(PS);
        const raw = readFileSync(out).subarray(d.offset, d.offset + d.size);
        if (compress === 'zlib') expectSameBytes(inflateSync(raw), frameBytes('text', textPfn));
        if (compress === 'lzo') expectSameBytes(raw, lzoOf(frameBytes('text', textPfn)));
      }
    } finally {
      file.close();
    }
  });

  test("zstd pages decompress with the package's own decoder too (after ours loaded it synchronously), and a damaged one is a FormatError", async () => {
    const out = tmp.file('out-zstd.kd');
    const source = ElfImageSource.open(input);
    const r = await writeKdumpCompressed(source, out, { compress: 'zstd', dumpLevel: 1, threads: 2 });
    source.close();
    const bytes = readFileSync(out);
    expect(decodeDiskDumpHeader(bytes).status).toBe(DUMP_DH_COMPRESSED_ZSTD);
    const file = KdumpCompressedFile.open(out);
    try {
      const ours = readAll(file, image.maxPfn); // our reader first: it instantiates the module synchronously
      const zstd = require('@bokuweb/zstd-wasm') as { init(): Promise<void>; decompress(b: Uint8Array): Uint8Array };
      await zstd.init(); // the package's async init afterwards must leave our decoder working
      let compressed = 0;
      for (let pfn = 0; pfn < image.maxPfn; pfn++) {
        if (file.frameState(pfn) !== 'dumped') continue;
        const d = file.descriptorOf(pfn);
        const data = bytes.subarray(d.offset, d.offset + d.size);
        const page = d.flags === DUMP_DH_COMPRESSED_ZSTD ? zstd.decompress(data) : data;
        if (d.flags) compressed++;
        else expect(d.size).toBe(PS);
        expectSameBytes(page, image.phys.subarray(pfn * PS, (pfn + 1) * PS));
        expectSameBytes(ours.get(pfn)!, page);
      }
      expect(compressed).toBeGreaterThan(r.dumpedFrames / 3);
      const textPfn = [...ours.keys()].find((pfn) => SPEC.kindOf(pfn) === 'text')!;
      const d = file.descriptorOf(textPfn);
      expect(d.flags).toBe(DUMP_DH_COMPRESSED_ZSTD);
      const page = new Uint8Array(PS);
      file.readFrame(textPfn, page);
      expectSameBytes(page, frameBytes('text', textPfn));
      const damaged = Uint8Array.from(bytes.subarray(d.offset, d.offset + d.size));
      expect(() =>
        decompressPage(DUMP_DH_COMPRESSED_ZSTD, damaged.subarray(0, damaged.length - 4), PS, { file: out, offset: d.offset }),
      ).toThrow(FormatError);
      damaged[damaged.length >> 1] ^= 0xff;
      damaged[(damaged.length >> 1) + 1] ^= 0x5a;
      let outcome: unknown;
      try {
        outcome = decompressPage(DUMP_DH_COMPRESSED_ZSTD, damaged, PS, { file: out, offset: d.offset });
      } catch (e) {
        outcome = e;
      }
      // Damage is either caught by zstd (a FormatError) or yields a page of the right size: never a crash or more bytes.
      if (outcome instanceof Error) expect(outcome).toBeInstanceOf(FormatError);
      else expect((outcome as Uint8Array).length).toBe(PS);
    } finally {
      file.close();
    }
  });

  test('one, two or four worker threads write the same bytes', async () => {
    const digests: string[] = [];
    for (const threads of [1, 2, 4]) {
      const out = tmp.file(`t${threads}.kd`);
      const source = ElfImageSource.open(input);
      await writeKdumpCompressed(source, out, { compress: 'zlib', dumpLevel: 1, threads });
      source.close();
      digests.push(readFileSync(out).toString('base64'));
    }
    expect(new Set(digests).size).toBe(1);
  });

  test('the headers are laid out as makedumpfile lays them', async () => {
    const out = tmp.file('layout.kd');
    const source = ElfImageSource.open(input);
    await writeKdumpCompressed(source, out, { compress: 'zlib', dumpLevel: 1, threads: 1 });
    source.close();
    const bytes = readFileSync(out);
    const h = decodeDiskDumpHeader(bytes);
    expect(h.blockSize).toBe(PS);
    expect(h.subHdrSize).toBe(Math.ceil((104 + image.notes.length) / PS));
    // each bitmap: ceil(max_mapnr / 8) rounded up to whole blocks
    expect(h.bitmapBlocks).toBe(2 * Math.ceil(Math.ceil(image.maxPfn / 8) / PS));
    const sub = new DataView(bytes.buffer, bytes.byteOffset + PS, 104);
    expect(Number(sub.getBigUint64(48, true))).toBe(PS + 104); // offset_note
    expect(Number(sub.getBigUint64(56, true))).toBe(image.notes.length);
    expectSameBytes(bytes.subarray(PS + 104, PS + 104 + image.notes.length), image.notes);
    const offVmcoreinfo = Number(sub.getBigUint64(32, true));
    expect(bytes.subarray(offVmcoreinfo, offVmcoreinfo + 10).toString()).toBe('OSRELEASE=');
    expect(Number(sub.getBigUint64(96, true))).toBe(image.maxPfn); // max_mapnr_64
  });

  test('levels above 1 need a classifier; with struct pages they leave out free, cache and user frames', async () => {
    const spec: ImageSpec = {
      ram: [{ start: 0, end: 0x800000 }],
      kindOf: (pfn) => (pfn < 256 ? 'slab' : (['free', 'cache', 'anon', 'text'] as const)[pfn % 4]),
      memMapAt: 0x40000,
    };
    const path = writeImage(tmp.file('mm.vmcore'), buildImage(spec));
    const source = ElfImageSource.open(path);
    await expect(writeKdumpCompressed(source, tmp.file('x.kd'), { compress: 'zlib', dumpLevel: 31 })).rejects.toThrow(/classifier/);
    const r = await writeKdumpCompressed(source, tmp.file('mm31.kd'), {
      compress: 'zlib',
      dumpLevel: 31,
      classifier: new StructPageClassifier(source, 31),
      threads: 1,
    });
    source.close();
    const frames = 0x800000 / PS;
    const free = Math.floor((frames - 256) / 4);
    expect(r.excluded).toMatchObject({ free, cache: free, user: free });
    expect(r.dumpedFrames).toBe(frames - 3 * free);
    const file = KdumpCompressedFile.open(tmp.file('mm31.kd'));
    expect(file.frameState(256 + 0)).toBe('excluded');
    expect(file.frameState(256 + 3)).toBe('dumped');
    expect(file.frameState(frames + 5)).toBe('hole');
    file.close();
  });

  test('a failure part-way leaves no output and no temporary file', async () => {
    const dir = tempDir('kdump-fail');
    try {
      const source = ElfImageSource.open(input);
      const broken = Object.create(source) as ElfImageSource;
      let calls = 0;
      broken.readFrames = (pfn, count, dst) => {
        if (++calls === 3) throw new FormatError('file', 'more bytes', 'the end of the file', { file: input, offset: 1234 });
        source.readFrames(pfn, count, dst);
      };
      await expect(writeKdumpCompressed(broken, dir.file('out.kd'), { compress: 'zlib', dumpLevel: 1, threads: 2 })).rejects.toThrow(
        FormatError,
      );
      source.close();
      expect(existsSync(dir.file('out.kd'))).toBe(false);
      expect(readdirSync(dir.dir)).toEqual([]);
    } finally {
      dir.cleanup();
    }
  });
});

describe('CompressPool and classifyBatch', () => {
  const page = (fill: (i: number) => number) => Uint8Array.from({ length: PS }, (_, i) => fill(i));
  const text = page((i) => 'the quick brown fox jumps over the lazy dog '.charCodeAt(i % 44));
  let x = 7;
  const random = page(() => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24);
  const lateByte = page((i) => (i === PS - 1 ? 1 : 0)); // zero in its first bytes, not all zero
  const zeroPage = Buffer.alloc(PS);

  async function run(randomDistinct: number, pages: Uint8Array[], detectZero = true) {
    const pool = new CompressPool(1, PS, 'zlib', 1);
    try {
      const buf = new ArrayBuffer(pages.length * PS);
      pages.forEach((p, i) => new Uint8Array(buf).set(p, i * PS));
      const kinds = new Uint8Array(pages.length);
      classifyBatch(Buffer.from(buf), pages.length, PS, detectZero, randomDistinct, kinds, zeroPage);
      return { kinds, ...(await pool.submit({ pages: buf, count: pages.length, kinds, out: new ArrayBuffer(pages.length * PS) })) };
    } finally {
      await pool.close();
    }
  }

  test.each([
    [0, 'tries deflate on every page'],
    [RANDOM_PAGE_DISTINCT, 'skips pages that look random'],
  ])('randomDistinct %d (%s): zero pages have no data, incompressible ones are raw, the rest inflate back', async (distinct) => {
    const pages = [text, new Uint8Array(PS), random, lateByte, text];
    const r = await run(distinct, pages);
    expect(Array.from(r.kinds)).toEqual([PAGE_TRY, PAGE_ZERO, distinct ? PAGE_RAW : PAGE_TRY, PAGE_TRY, PAGE_TRY]);
    expect(Array.from(r.sizes.map((s) => (s === PS ? PS : s < 0 ? -1 : 0)))).toEqual([0, -1, PS, 0, 0]);
    expect(Array.from(r.flags)).toEqual([DUMP_DH_COMPRESSED_ZLIB, 0, 0, DUMP_DH_COMPRESSED_ZLIB, DUMP_DH_COMPRESSED_ZLIB]);
    // Compressed data is packed in page order at the start of out; raw pages stay in pages.
    const out = new Uint8Array(r.out);
    let pos = 0;
    pages.forEach((p, i) => {
      const n = r.sizes[i];
      if (n < 0) return;
      if (!r.flags[i]) {
        expectSameBytes(new Uint8Array(r.pages, i * PS, PS), p);
        return;
      }
      const data = out.subarray(pos, pos + n);
      expectSameBytes(inflateSync(data), p);
      expectSameBytes(data, deflateSync(p, { level: 1 }));
      pos += n;
    });
  });

  test('without zero detection a zero page is compressed like any other', async () => {
    const r = await run(RANDOM_PAGE_DISTINCT, [new Uint8Array(PS)], false);
    expect(r.sizes[0]).toBeGreaterThan(0);
    expect(r.flags[0]).toBe(DUMP_DH_COMPRESSED_ZLIB);
    expectSameBytes(inflateSync(new Uint8Array(r.out, 0, r.sizes[0])), new Uint8Array(PS));
  });
});
