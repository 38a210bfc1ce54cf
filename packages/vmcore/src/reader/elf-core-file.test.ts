import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  EfikdumpError,
  encodeNote,
  encodePrStatus,
  encodeProgramHeader,
  FormatError,
  IoError,
  NT_PRSTATUS,
  NT_VMCOREINFO,
  PT_LOAD,
  PT_NOTE,
  type ProgramHeader,
} from '@efikdump/core';
import { encodeElfcorehdr, KERNEL_TEXT, PAGE_OFFSET } from '../testing/core-fixture';
import { ElfCoreFile } from './elf-core-file';

let dir: string;
let counter = 0;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'efikdump-vmcore-reader-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const writeTemp = (bytes: Uint8Array): string => {
  const path = join(dir, `core-${counter++}.bin`);
  writeFileSync(path, bytes);
  return path;
};

/**
 * A small ELF core: headers at 0, notes at 0x1000, two copies of physical 0x100000.. (kernel text
 * first, then the direct map) and a segment whose p_filesz < p_memsz.
 */
function smallCore(): { bytes: Uint8Array; phdrs: ProgramHeader[] } {
  const notes = new Uint8Array([
    ...encodeNote('CORE', NT_PRSTATUS, encodePrStatus({ pid: 42, regs: [1n, 2n, 3n] })),
    ...encodeNote('VMCOREINFO', NT_VMCOREINFO, Buffer.from('OSRELEASE=6.9\nPAGESIZE=4096\n', 'latin1')),
  ]);
  const load = (offset: number, paddr: number, filesz: number, memsz: number, vaddr = PAGE_OFFSET + BigInt(paddr)): ProgramHeader => ({
    type: PT_LOAD,
    flags: 7,
    offset,
    vaddr,
    paddr,
    filesz,
    memsz,
    align: 0,
  });
  const phdrs: ProgramHeader[] = [
    { type: PT_NOTE, flags: 0, offset: 0x1000, vaddr: 0n, paddr: 0, filesz: notes.length, memsz: notes.length, align: 0 },
    load(0x2000, 0x100000, 0x1000, 0x1000, KERNEL_TEXT.vaddr),
    load(0x3000, 0x100000, 0x2000, 0x2000),
    load(0x5000, 0x200000, 0x800, 0x1000),
  ];
  const bytes = new Uint8Array(0x5800);
  bytes.set(encodeElfcorehdr(phdrs), 0);
  bytes.set(notes, 0x1000);
  bytes.fill(0xaa, 0x2000, 0x3000); // kernel-text copy: a reader must not prefer it
  for (let i = 0x3000; i < 0x5800; i++) bytes[i] = i & 0xff;
  return { bytes, phdrs };
}

function expectFormatError(fn: () => unknown, file: string, offset: number, message?: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(FormatError);
  expect((caught as FormatError).file).toBe(file);
  expect((caught as FormatError).offset).toBe(offset);
  if (message) expect((caught as FormatError).message).toMatch(message);
}

describe('ElfCoreFile', () => {
  it('opens a core, reads notes, VMCOREINFO and registers', () => {
    const { bytes, phdrs } = smallCore();
    const path = writeTemp(bytes);
    const core = ElfCoreFile.open(path);
    try {
      expect(core.size).toBe(bytes.length);
      expect(core.header).toMatchObject({ type: 4, machine: 62, phnum: 4 });
      expect(core.phdrs).toEqual(phdrs);
      expect(core.notes().map((n) => [n.name, n.type, n.offset])).toEqual([
        ['CORE', 1, 0x1000],
        ['VMCOREINFO', 0, 0x1000 + 356],
      ]);
      expect(core.vmcoreinfo()).toEqual(
        new Map([
          ['OSRELEASE', '6.9'],
          ['PAGESIZE', '4096'],
        ]),
      );
      const [cpu0] = core.prstatus();
      expect(cpu0.cpu).toBe(0);
      expect(cpu0.pid).toBe(42);
      expect(cpu0.regs.slice(0, 4)).toEqual([1n, 2n, 3n, 0n]);
      expect(cpu0.regs).toHaveLength(27);
    } finally {
      core.close();
    }
  });

  it('reads physical memory through the direct-map PT_LOAD, zeros past p_filesz, false outside', () => {
    const { bytes } = smallCore();
    const core = ElfCoreFile.open(writeTemp(bytes));
    try {
      const dst = new Uint8Array(0x20);
      expect(core.readPhys(0x100010, dst)).toBe(true);
      expect(dst).toEqual(bytes.subarray(0x3010, 0x3030));
      expect(core.fileOffsetOf(0x100010)).toBe(0x3010);
      const tail = new Uint8Array(0x1000);
      expect(core.readPhys(0x200000, tail)).toBe(true);
      expect(tail.subarray(0, 0x800)).toEqual(bytes.subarray(0x5000, 0x5800));
      expect(tail.subarray(0x800).every((b) => b === 0)).toBe(true);
      expect(core.readPhys(0x102000, dst)).toBe(false);
      expect(core.readPhys(0x101ff0, dst)).toBe(false);
      expect(core.readPhys(-1, dst)).toBe(false);
      expect(core.fileOffsetOf(0x300000)).toBeUndefined();
    } finally {
      core.close();
    }
  });

  it('is IoError for a missing file, and close() twice is harmless', () => {
    expect(() => ElfCoreFile.open(join(dir, 'missing.vmcore'))).toThrow(IoError);
    const core = ElfCoreFile.open(writeTemp(smallCore().bytes));
    core.close();
    core.close();
    expect(() => core.readPhys(0x100000, new Uint8Array(4))).toThrow(IoError);
  });

  describe('rejects malformed files with the file and offset', () => {
    const mutated = (edit: (b: Uint8Array, v: DataView) => void, length?: number) => {
      const bytes = smallCore().bytes.slice(0, length);
      edit(bytes, new DataView(bytes.buffer));
      return writeTemp(bytes);
    };
    const open = (path: string) => () => ElfCoreFile.open(path).close();

    it('a file shorter than an ELF header', () => {
      const path = writeTemp(new Uint8Array(10));
      expectFormatError(open(path), path, 0, /ELF header: expected 64 bytes, found a 10-byte file/);
    });

    it('bad magic, type, machine', () => {
      let p = mutated((b) => {
        b[1] = 0x46;
      });
      expectFormatError(open(p), p, 0, /ELF magic/);
      p = mutated((_, v) => v.setUint16(16, 2, true));
      expectFormatError(open(p), p, 16, /ET_CORE/);
      p = mutated((_, v) => v.setUint16(18, 183, true));
      expectFormatError(open(p), p, 18, /EM_X86_64/);
    });

    it('a program header table past the end of the file', () => {
      const p = mutated((_, v) => v.setUint16(56, 1000, true));
      expectFormatError(open(p), p, 32, /program header table: expected 1000 entries at e_phoff inside the 22528-byte file/);
      const q = mutated((_, v) => v.setBigUint64(32, 0x5800n, true));
      expectFormatError(open(q), q, 32);
    });

    it('PT_NOTE segments over 16 MiB or past the end, before reading them', () => {
      let p = mutated((_, v) => v.setBigUint64(64 + 32, 17n << 20n, true));
      expectFormatError(() => ElfCoreFile.open(p).notes(), p, 64 + 32, /at most 16777216 bytes/);
      p = mutated((_, v) => v.setBigUint64(64 + 8, 0x5700n, true));
      expectFormatError(() => ElfCoreFile.open(p).notes(), p, 64 + 8, /PT_NOTE segment: expected inside the 22528-byte file/);
    });

    it('a note that does not fit its segment, at its file offset', () => {
      const p = mutated((_, v) => v.setUint32(0x1000 + 356 + 4, 5000, true));
      expectFormatError(() => ElfCoreFile.open(p).notes(), p, 0x1000 + 356, /ELF note/);
    });

    it('an NT_PRSTATUS too short for x86-64', () => {
      const p = mutated((_, v) => v.setUint32(0x1000 + 4, 100, true)); // descsz 100: the rest becomes garbage notes or none
      let caught: unknown;
      try {
        const core = ElfCoreFile.open(p);
        core.prstatus();
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(FormatError);
    });

    it('PT_LOAD data past the end of the file, when read', () => {
      const p = mutated(() => undefined, 0x5400);
      const core = ElfCoreFile.open(p);
      try {
        expect(core.readPhys(0x200000, new Uint8Array(0x100))).toBe(true);
        expectFormatError(() => core.readPhys(0x200000, new Uint8Array(0x800)), p, 64 + 3 * 56 + 8, /PT_LOAD data/);
      } finally {
        core.close();
      }
    });
  });
});

describe('ElfCoreFile: properties', () => {
  /** Opens and exercises every reader method; only FormatError may escape. */
  const exercise = (path: string) => {
    let core: ElfCoreFile | undefined;
    try {
      core = ElfCoreFile.open(path);
      core.notes();
      core.vmcoreinfo();
      core.prstatus();
      const dst = new Uint8Array(4096);
      for (const paddr of [0, 0x100000, 0x100ff0, 0x200000, 0x200800]) core.readPhys(paddr, dst);
      for (const p of core.phdrs) if (p.type === PT_LOAD) core.readPhys(p.paddr, dst.subarray(0, Math.min(dst.length, 64)));
    } catch (e) {
      if (!(e instanceof FormatError)) throw e;
      expect(e).toBeInstanceOf(EfikdumpError);
      expect(e.file).toBe(path);
    } finally {
      core?.close();
    }
  };

  it('random files end in a result or a FormatError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 600 }), fc.boolean(), (bytes, withMagic) => {
        if (withMagic && bytes.length >= 64) bytes.set(encodeElfcorehdr([]).subarray(0, 56), 0);
        exercise(writeTemp(bytes));
      }),
      { numRuns: 200 },
    );
  });

  it('mutated valid cores end in a result or a FormatError', () => {
    const { bytes } = smallCore();
    const interesting = [0n, 1n, 0x38n, 0x1000n, 0x5800n, 0x100000n, 1n << 24n, 1n << 53n, (1n << 64n) - 1n];
    const edit = fc.oneof(
      fc.record({
        kind: fc.constant('byte' as const),
        pos: fc.integer({ min: 0, max: 0x1000 + 400 }),
        value: fc.integer({ min: 0, max: 255 }),
      }),
      fc.record({
        kind: fc.constant('u64' as const),
        pos: fc.integer({ min: 0, max: (64 + 4 * 56) / 8 - 1 }),
        value: fc.constantFrom(...interesting),
      }),
      fc.record({
        kind: fc.constant('u32' as const),
        pos: fc.integer({ min: 0x1000 / 4, max: (0x1000 + 400) / 4 }),
        value: fc.constantFrom(0, 1, 4, 11, 336, 0x7fffffff, 0xffffffff),
      }),
    );
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 5 }), fc.integer({ min: 0x100, max: bytes.length }), (edits, length) => {
        const b = bytes.slice(0, length);
        const v = new DataView(b.buffer);
        for (const e of edits) {
          if (e.kind === 'byte' && e.pos < b.length) b[e.pos] = e.value;
          else if (e.kind === 'u64' && e.pos * 8 + 8 <= b.length) v.setBigUint64(e.pos * 8, e.value, true);
          else if (e.kind === 'u32' && e.pos * 4 + 4 <= b.length) v.setUint32(e.pos * 4, e.value as number, true);
        }
        exercise(writeTemp(b));
      }),
      { numRuns: 300 },
    );
  });

  it('never reads a PT_NOTE of 1 GiB or a table of 65534 entries into memory', () => {
    const { bytes } = smallCore();
    const huge = bytes.slice();
    new DataView(huge.buffer).setBigUint64(64 + 32, 1n << 30n, true);
    const p = writeTemp(huge);
    expect(() => ElfCoreFile.open(p).notes()).toThrow(FormatError);
    const many = bytes.slice();
    new DataView(many.buffer).setUint16(56, 65534, true);
    expect(() => ElfCoreFile.open(writeTemp(many))).toThrow(FormatError);
    // The phdr encoder is the one the reader must agree with.
    expect(encodeProgramHeader({ type: PT_NOTE, flags: 0, offset: 0, vaddr: 0n, paddr: 0, filesz: 0, memsz: 0, align: 0 })).toHaveLength(
      56,
    );
  });
});
