import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { ConfigError, EfikdumpError, IoError, PT_LOAD } from '@efikdump/core';
import { StructPageClassifier } from '../dump-level/struct-page-classifier';
import { ElfCoreFile } from '../reader/elf-core-file';
import { ElfImageSource } from '../source/elf-image-source';
import { buildImage, PS, tempDir, writeImage, type ImageSpec, type TestKind } from '../testing/vmcore-image';
import { expectSameBytes } from '../testing/run-context';
import { PFN_EXCLUDED, writeFilteredElf } from './elf-filtered.writer';

describe('writeFilteredElf (makedumpfile -E)', () => {
  const tmp = tempDir('elf-filtered');
  afterAll(() => tmp.cleanup());

  // 2048 frames: text, a run of 300 zero frames (dropped), 10 zero frames (kept in the file), text, 400 zero frames at the end.
  const kindOf = (pfn: number): TestKind => ((pfn >= 100 && pfn < 400) || (pfn >= 500 && pfn < 510) || pfn >= 1648 ? 'zero' : 'text');
  const spec: ImageSpec = { ram: [{ start: 0, end: 2048 * PS }], kindOf, kernelText: { paddr: 0x10000, size: 0x10000 } };
  const image = buildImage(spec);
  const input = writeImage(tmp.file('in.vmcore'), image);

  test('splits a PT_LOAD at runs of 256 or more excluded pages, keeps shorter runs, reads back the rest', async () => {
    const source = ElfImageSource.open(input);
    const r = await writeFilteredElf(source, tmp.file('d1.elf'), { dumpLevel: 1 });
    source.close();
    const core = ElfCoreFile.open(tmp.file('d1.elf'));
    try {
      expect(core.header.flags).toBe(0);
      const loads = core.phdrs.filter((p) => p.type === PT_LOAD).map((p) => ({ paddr: p.paddr, filesz: p.filesz, memsz: p.memsz }));
      expect(loads).toEqual([
        { paddr: 0x10000, filesz: 0x10000, memsz: 0x10000 }, // the kernel-text mapping, untouched
        { paddr: 0, filesz: 100 * PS, memsz: 400 * PS }, // 300 zero frames: in p_memsz only
        { paddr: 400 * PS, filesz: (1648 - 400) * PS, memsz: (2048 - 400) * PS }, // the 10-frame run stays; the tail is memsz only
      ]);
      expect(r.excluded.zero).toBe(300 + 400);
      expect(core.notes().map((n) => n.name)).toEqual(['CORE', 'CORE', 'VMCOREINFO']);
      const page = new Uint8Array(PS);
      for (let pfn = 0; pfn < 2048; pfn++) {
        expect(core.readPhys(pfn * PS, page)).toBe(true);
        expectSameBytes(page, image.phys.subarray(pfn * PS, (pfn + 1) * PS));
      }
    } finally {
      core.close();
    }
    expect(PFN_EXCLUDED).toBe(256);
  });

  test('at level 0 the output holds every input page', async () => {
    const source = ElfImageSource.open(input);
    const r = await writeFilteredElf(source, tmp.file('d0.elf'), { dumpLevel: 0 });
    source.close();
    expect(r.loads).toBe(2);
    expect(Object.values(r.excluded).every((n) => n === 0)).toBe(true);
  });

  test('with struct pages, -d 31 leaves out free, cache and user pages as makedumpfile would', async () => {
    const kinds: TestKind[] = ['free', 'cache', 'anon'];
    const s: ImageSpec = {
      ram: [{ start: 0, end: 4096 * PS }],
      kindOf: (pfn) => (pfn < 256 ? 'slab' : pfn < 1024 ? kinds[Math.floor(pfn / 256) % 3] : 'text'),
      memMapAt: 0x20000,
    };
    const path = writeImage(tmp.file('mm.vmcore'), buildImage(s));
    const source = ElfImageSource.open(path);
    await expect(writeFilteredElf(source, tmp.file('nope.elf'), { dumpLevel: 31 })).rejects.toThrow(ConfigError);
    const r = await writeFilteredElf(source, tmp.file('d31.elf'), {
      dumpLevel: 31,
      classifier: () => new StructPageClassifier(source, 31),
    });
    source.close();
    expect(r.excluded).toMatchObject({ free: 256, cache: 256, user: 256 });
    const core = ElfCoreFile.open(tmp.file('d31.elf'));
    expect(core.phdrs.filter((p) => p.type === PT_LOAD).map((p) => [p.paddr / PS, p.filesz / PS, p.memsz / PS])).toEqual([
      [0, 256, 1024],
      [1024, 3072, 3072],
    ]);
    core.close();
  });
});

describe('StructPageClassifier', () => {
  const tmp = tempDir('classifier');
  afterAll(() => tmp.cleanup());
  const open = (spec: ImageSpec, name: string) => ElfImageSource.open(writeImage(tmp.file(name), buildImage(spec)));
  const ram = [{ start: 0, end: 512 * PS }];

  test('without VMCOREINFO memory model, a level above 1 is a ConfigError that says what is missing', () => {
    const plain = open({ ram, kindOf: () => 'text' }, 'plain.vmcore');
    expect(() => new StructPageClassifier(plain, 31)).toThrow(
      /VMCOREINFO describes no memory model; only FLATMEM \(SYMBOL\(mem_map\)\) is supported/,
    );
    plain.close();
    const sparse = open({ ram, kindOf: () => 'text', vmcoreinfo: { 'SYMBOL(mem_section)': 'ffffffff83000000' } }, 'sparse.vmcore');
    expect(() => new StructPageClassifier(sparse, 16)).toThrow(/SPARSEMEM \(SYMBOL\(mem_section\)\), which this version does not read/);
    sparse.close();
    const partial = open(
      { ram, kindOf: () => 'text', memMapAt: 0x8000 * 2, vmcoreinfo: { 'NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)': undefined } },
      'partial.vmcore',
    );
    expect(() => new StructPageClassifier(partial, 16)).toThrow(/lacks: NUMBER\(PAGE_BUDDY_MAPCOUNT_VALUE\)/);
    expect(() => new StructPageClassifier(partial, 2)).not.toThrow();
    partial.close();
  });
});

describe('ElfImageSource', () => {
  const tmp = tempDir('elf-source');
  afterAll(() => tmp.cleanup());
  const good = buildImage({
    ram: [
      { start: 0x1000, end: 0x9fc00 },
      { start: 0x100000, end: 0x180000 },
    ],
    kindOf: () => 'text',
    kernelText: { paddr: 0x100000, size: 0x8000 },
  }).bytes;

  test('mutated and truncated images end in our errors, never another exception', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(1024), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        fc.option(fc.nat(), { nil: undefined }),
        (edits, cut) => {
          const b = Uint8Array.from(good);
          for (const [i, v] of edits) b[i] = v;
          const path = tmp.file('fuzz.vmcore');
          writeFileSync(path, cut === undefined ? b : b.subarray(0, cut % b.length));
          let source: ElfImageSource | undefined;
          try {
            source = ElfImageSource.open(path);
            const page = new Uint8Array(PS);
            for (let pfn = 0; pfn < Math.min(source.maxMapnr, 512); pfn++) source.readPhys(pfn * PS, page);
          } catch (e) {
            if (!(e instanceof EfikdumpError)) throw e;
          } finally {
            source?.close();
          }
        },
      ),
      { numRuns: 300 },
    );
    expect(readFileSync(tmp.file('fuzz.vmcore')).length).toBeGreaterThanOrEqual(0);
  });
});

describe('writeFilteredElf failures', () => {
  test('a read that fails part-way leaves no output, no temporary file and no writer thread', async () => {
    const dir = tempDir('elf-filtered-fail');
    try {
      const spec: ImageSpec = { ram: [{ start: 0, end: 4096 * PS }], kindOf: (pfn) => (pfn % 3 ? 'text' : 'zero') };
      const input = writeImage(dir.file('in.vmcore'), buildImage(spec));
      const source = ElfImageSource.open(input);
      const read = source.reader.read.bind(source.reader);
      let calls = 0;
      (source.reader as { read: typeof read }).read = (offset, dst) => {
        if (dst.length >= PS && ++calls === 3) throw new IoError('read failed: EIO', { file: input, offset });
        read(offset, dst);
      };
      await expect(writeFilteredElf(source, dir.file('out.elf'), { dumpLevel: 1 })).rejects.toThrow(/EIO/);
      source.close();
      expect(readdirSync(dir.dir).sort()).toEqual(['in.vmcore']);
    } finally {
      dir.cleanup();
    }
  });

  test('pages with data only past their first 16 bytes are kept, not taken for zero pages', async () => {
    const dir = tempDir('elf-filtered-late');
    try {
      const spec: ImageSpec = { ram: [{ start: 0, end: 600 * PS }], kindOf: () => 'zero' };
      const image = buildImage(spec);
      const dataStart = image.bytes.length - 600 * PS; // the single PT_LOAD holds the RAM at the end of the image
      for (let pfn = 0; pfn < 600; pfn += 2) {
        image.bytes[dataStart + pfn * PS + PS - 1] = pfn & 0xff || 1;
        image.phys[pfn * PS + PS - 1] = pfn & 0xff || 1;
      }
      const input = writeImage(dir.file('in.vmcore'), image);
      const source = ElfImageSource.open(input);
      const r = await writeFilteredElf(source, dir.file('out.elf'), { dumpLevel: 1 });
      source.close();
      expect(r.excluded.zero).toBe(1); // single zero pages between them stay (as holes); the trailing one is in p_memsz only
      expect(r.dataBytes).toBe(300 * PS);
      const core = ElfCoreFile.open(dir.file('out.elf'));
      const page = new Uint8Array(PS);
      for (let pfn = 0; pfn < 600; pfn++) {
        expect(core.readPhys(pfn * PS, page)).toBe(true);
        expectSameBytes(page, image.phys.subarray(pfn * PS, (pfn + 1) * PS));
      }
      core.close();
    } finally {
      dir.cleanup();
    }
  });
});
