import fc from 'fast-check';
import {
  decodeElfHeader,
  decodeProgramHeaders,
  encodeNote,
  FormatError,
  PhysicalMemory,
  PT_LOAD,
  PT_NOTE,
  NT_PRSTATUS,
  type ProgramHeader,
} from '@efikdump/core';
import { MAX_ELFCOREHDR_BYTES, parseElfCoreHeader, elfCoreHeaderExtent, type ParsedCore } from './parse-elfcorehdr';
import {
  buildCoreFixture,
  CRASH_NOTES_BASE,
  encodeElfcorehdr,
  FIXTURE_HDR_PADDR,
  FIXTURE_HDR_SIZE,
  KERNEL_TEXT,
  loadHeader,
  noteHeader,
  VMCOREINFO_PADDR,
} from '../testing/core-fixture';

const reader = (memory: PhysicalMemory) => (paddr: number, dst: Uint8Array) => memory.read(paddr, dst);
const opts = (memory: PhysicalMemory, source?: string) => ({ isRam: (p: number, s: number) => memory.isRam(p, s), source });

function parse(memory: PhysicalMemory, paddr = FIXTURE_HDR_PADDR, size = FIXTURE_HDR_SIZE, source?: string): ParsedCore {
  return parseElfCoreHeader(reader(memory), paddr, size, opts(memory, source));
}

/** Writes an elfcorehdr of `phdrs` at FIXTURE_HDR_PADDR of a fresh fixture machine and parses it. */
function parseHeaders(phdrs: ProgramHeader[], prepare?: (m: PhysicalMemory) => void): ParsedCore {
  const { memory } = buildCoreFixture();
  prepare?.(memory);
  memory.write(FIXTURE_HDR_PADDR, encodeElfcorehdr(phdrs, FIXTURE_HDR_SIZE));
  return parse(memory);
}

function expectFormatError(fn: () => unknown, offset: number, message?: RegExp, file = 'old memory'): FormatError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(FormatError);
  const err = caught as FormatError;
  expect(err.file).toBe(file);
  expect(err.offset).toBe(offset);
  if (message) expect(err.message).toMatch(message);
  return err;
}

describe('parseElfCoreHeader: the layout of /proc/vmcore', () => {
  const fx = buildCoreFixture({ cpus: 2 });
  const core = parse(fx.memory);

  it('merges 3 PT_NOTEs into one and computes the areas by hand', () => {
    // 7 program headers in, 3 of them PT_NOTE: 7 - 3 + 1 = 5 out; 64 + 5 × 56 = 344 → one page.
    expect(core.elfHeader.phnum).toBe(5);
    expect(core.headerBytes).toBe(344);
    expect(core.header.length).toBe(4096);
    // Two CORE notes of 12 + 8 + 336 = 356 bytes; VMCOREINFO 12 + 12 + align4(135) = 160 → 872 → one page.
    expect(core.notesBytes).toBe(872);
    expect(core.notes.length).toBe(4096);
    expect(core.warnings).toEqual([]);
  });

  it('gives each PT_LOAD its page-rounded file range (hand-computed offsets)', () => {
    expect(core.loads.map((l) => [l.paddr, l.size, l.physStart, l.fileStart, l.fileOffset, l.fileEnd])).toEqual([
      [0x1000000, 0xa00000, 0x1000000, 0x2000, 0x2000, 0xa02000], // kernel text
      [0x1000, 0x9ec00, 0x1000, 0xa02000, 0xa02000, 0xaa1000], // ends at 0x9fc00, rounded up to 0xa0000
      [0x100000, 0x1f00000, 0x100000, 0xaa1000, 0xaa1000, 0x29a1000],
      [0x3000000, 0x1000000, 0x3000000, 0x29a1000, 0x29a1000, 0x39a1000],
    ]);
    expect(core.fileSize).toBe(0x39a1000);
    expect(core.loads[0].vaddr).toBe(KERNEL_TEXT.vaddr);
  });

  it('encodes the new headers: ELF header patched, merged PT_NOTE first, PT_LOADs with new offsets', () => {
    const h = decodeElfHeader(core.header);
    expect(h).toMatchObject({ type: 4, machine: 62, phoff: 64, phnum: 5 });
    const phdrs = decodeProgramHeaders(core.header, h);
    expect(phdrs).toEqual(core.phdrs);
    expect(phdrs[0]).toEqual({ type: PT_NOTE, flags: 0, offset: 0x1000, vaddr: 0n, paddr: 0, filesz: 872, memsz: 872, align: 0 });
    expect(phdrs.slice(1).map((p) => [p.type, p.offset, p.paddr, p.filesz])).toEqual([
      [PT_LOAD, 0x2000, 0x1000000, 0xa00000],
      [PT_LOAD, 0xa02000, 0x1000, 0x9ec00],
      [PT_LOAD, 0xaa1000, 0x100000, 0x1f00000],
      [PT_LOAD, 0x29a1000, 0x3000000, 0x1000000],
    ]);
    expect(core.header.subarray(344).every((b) => b === 0)).toBe(true);
  });

  it('copies the real size of each note segment, back to back, zero padded', () => {
    const expected = new Uint8Array(872);
    const tmp = new Uint8Array(356);
    fx.memory.read(CRASH_NOTES_BASE, tmp);
    expected.set(tmp, 0);
    fx.memory.read(CRASH_NOTES_BASE + 0x400, tmp);
    expected.set(tmp, 356);
    const info = new Uint8Array(160);
    fx.memory.read(VMCOREINFO_PADDR, info);
    expected.set(info, 712);
    expect(core.notes.subarray(0, 872)).toEqual(expected);
    expect(core.notes.subarray(872).every((b) => b === 0)).toBe(true);
    expect(core.noteList.map((n) => [n.name, n.type, n.desc.length, n.offset])).toEqual([
      ['CORE', NT_PRSTATUS, 336, 0x1000],
      ['CORE', NT_PRSTATUS, 336, 0x1000 + 356],
      ['VMCOREINFO', 0, 135, 0x1000 + 712],
    ]);
  });

  it('scales with CPUs: 64 CPUs need six pages of notes', () => {
    const big = parse(buildCoreFixture({ cpus: 64 }).memory);
    // 64 + (69 - 65 + 1) × 56 = 344; notes 64 × 356 + 160 = 22944 → 6 pages.
    expect(big.headerBytes).toBe(344);
    expect(big.notesBytes).toBe(22944);
    expect(big.notes.length).toBe(6 * 4096);
    expect(big.loads[0].fileOffset).toBe(4096 + 6 * 4096);
    expect(big.noteList).toHaveLength(65);
  });
});

describe('parseElfCoreHeader: notes as the kernel walks them', () => {
  it("drops a note that passes p_memsz, with the kernel's warning", () => {
    const paddr = 0x500000;
    const core = parseHeaders([noteHeader(paddr, 100), loadHeader(0x100000, 0x1000)], (m) => {
      const first = encodeNote('CORE', NT_PRSTATUS, new Uint8Array(40)); // 12 + 8 + 40 = 60 bytes
      const second = encodeNote('CORE', NT_PRSTATUS, new Uint8Array(40)); // would end at 120 > 100
      const buf = new Uint8Array(120);
      buf.set(first, 0);
      buf.set(second, 60);
      m.write(paddr, buf);
    });
    expect(core.notesBytes).toBe(60);
    expect(core.noteList).toHaveLength(1);
    expect(core.warnings).toEqual([expect.stringMatching(/^Exceeded p_memsz, dropping PT_NOTE entry n_namesz=0x5, n_descsz=0x28/)]);
  });

  it('stops at n_namesz == 0 and warns about an empty segment', () => {
    const paddr = 0x500000;
    const core = parseHeaders([noteHeader(paddr, 64), noteHeader(paddr + 0x100, 64), loadHeader(0x100000, 0x1000)], (m) => {
      const buf = new Uint8Array(0x200);
      buf.set(encodeNote('A', 7, new Uint8Array(3)), 0); // 12 + 4 + 4 = 20, then zeros
      m.write(paddr, buf);
    });
    expect(core.notesBytes).toBe(20);
    expect(core.noteList.map((n) => [n.name, n.type])).toEqual([['A', 7]]);
    expect(core.warnings).toEqual([expect.stringMatching(/^Zero PT_NOTE entries found/)]);
    expect(core.elfHeader.phnum).toBe(2);
  });

  it('walks u32 sizes above 2^31 without overflow (dropped, not wrapped)', () => {
    const paddr = 0x500000;
    const core = parseHeaders([noteHeader(paddr, 64), loadHeader(0x100000, 0x1000)], (m) => {
      const buf = new Uint8Array(64);
      const v = new DataView(buf.buffer);
      v.setUint32(0, 0xfffffffd, true);
      v.setUint32(4, 0xfffffffd, true);
      m.write(paddr, buf);
    });
    expect(core.notesBytes).toBe(0);
    expect(core.warnings[0]).toMatch(/n_namesz=0xfffffffd/);
  });

  it('keeps an empty merged PT_NOTE when there is none (phnum + 1)', () => {
    const core = parseHeaders([loadHeader(0x100000, 0x1000)]);
    expect(core.elfHeader.phnum).toBe(2);
    expect(core.phdrs[0]).toMatchObject({ type: PT_NOTE, offset: 4096, filesz: 0 });
    expect(core.notes.length).toBe(0);
    expect(core.loads[0].fileOffset).toBe(4096);
    expect(core.fileSize).toBe(8192);
  });
});

describe('parseElfCoreHeader: PT_LOAD rounding', () => {
  it('rounds an unaligned segment to whole pages and offsets p_offset inside them', () => {
    const core = parseHeaders([noteHeader(CRASH_NOTES_BASE, 368), loadHeader(0x5010, 0x2000), loadHeader(0x10000, 0x1000)]);
    // header 64 + 3 × 56 → 4096; notes 356 → 4096; first load [0x5000, 0x8000) at 8192.
    expect(core.loads.map((l) => [l.physStart, l.fileStart, l.fileOffset, l.fileEnd])).toEqual([
      [0x5000, 0x2000, 0x2010, 0x5000],
      [0x10000, 0x5000, 0x5000, 0x6000],
    ]);
    expect(core.fileSize).toBe(0x6000);
  });

  it('reads a segment from p_offset when it differs from p_paddr (x86 backup region)', () => {
    const backup: ProgramHeader = { ...loadHeader(0, 0xa0000), offset: 0x2100000 };
    const core = parseHeaders([noteHeader(CRASH_NOTES_BASE, 368), backup]);
    expect(core.loads[0]).toMatchObject({ paddr: 0, physStart: 0x2100000, fileOffset: 0x2000, size: 0xa0000 });
  });

  it('accepts a zero-length PT_LOAD without reading anything', () => {
    const core = parseHeaders([noteHeader(CRASH_NOTES_BASE, 368), loadHeader(0x100000, 0), loadHeader(0x200000, 0x1000)]);
    expect(core.loads.map((l) => [l.fileStart, l.fileEnd])).toEqual([
      [0x2000, 0x2000],
      [0x2000, 0x3000],
    ]);
  });
});

describe('parseElfCoreHeader: rejects what fs/proc/vmcore.c rejects, naming the physical address', () => {
  const H = FIXTURE_HDR_PADDR;
  const mutate = (edit: (hdr: Uint8Array, v: DataView) => void, size = FIXTURE_HDR_SIZE) => {
    const fx = buildCoreFixture();
    const hdr = fx.hdr.slice();
    edit(hdr, new DataView(hdr.buffer));
    fx.memory.write(H, hdr);
    return () => parse(fx.memory, H, size);
  };
  const phdrField = (i: number, rel: number) => H + 64 + i * 56 + rel;

  it('size above 64 KiB, or below an ELF header', () => {
    const { memory } = buildCoreFixture();
    expectFormatError(
      () => parse(memory, H, MAX_ELFCOREHDR_BYTES + 1),
      H,
      /elfcorehdr size: expected 64 to 65536 bytes, found 65537 bytes/,
    );
    expectFormatError(() => parse(memory, H, 63), H);
    expect(() => parse(memory, H, MAX_ELFCOREHDR_BYTES)).not.toThrow();
  });

  it('an elfcorehdr outside RAM', () => {
    const { memory } = buildCoreFixture();
    expectFormatError(() => parse(memory, 64 << 20, 4096), 64 << 20, /inside old-memory RAM/);
    expectFormatError(() => parse(memory, (64 << 20) - 32, 4096), (64 << 20) - 32);
  });

  it('bad magic, class, type, machine, version, ehsize, phentsize, phnum', () => {
    expectFormatError(
      mutate((h) => {
        h[0] = 0;
      }),
      H,
      /ELF magic/,
    );
    expectFormatError(
      mutate((h) => {
        h[4] = 1;
      }),
      H + 4,
      /ELFCLASS64/,
    );
    expectFormatError(
      mutate((_, v) => v.setUint16(16, 2, true)),
      H + 16,
      /e_type: expected ET_CORE \(4\), found 2/,
    );
    expectFormatError(
      mutate((_, v) => v.setUint16(18, 183, true)),
      H + 18,
      /e_machine: expected EM_X86_64 \(62\), found 183/,
    );
    expectFormatError(
      mutate((_, v) => v.setUint32(20, 0, true)),
      H + 20,
      /e_version/,
    );
    expectFormatError(
      mutate((_, v) => v.setUint16(52, 52, true)),
      H + 52,
      /e_ehsize/,
    );
    expectFormatError(
      mutate((_, v) => v.setUint16(54, 32, true)),
      H + 54,
      /e_phentsize/,
    );
    expectFormatError(
      mutate((_, v) => v.setUint16(56, 0, true)),
      H + 56,
      /e_phnum/,
    );
    expectFormatError(
      mutate((_, v) => v.setBigUint64(32, 128n, true)),
      H + 32,
      /e_phoff/,
    );
  });

  it('a program header table that does not fit in the given size', () => {
    // 64 + 7 × 56 = 456 bytes of headers in a 400-byte elfcorehdr.
    expectFormatError(
      mutate(() => undefined, 400),
      H + 56,
      /e_phnum: expected a program header table inside the 400-byte elfcorehdr, found 7 entries \(456 bytes\)/,
    );
  });

  it('a PT_NOTE over 1 MiB or outside RAM, before reading it', () => {
    expectFormatError(
      mutate((_, v) => v.setBigUint64(64 + 40, 2n << 20n, true)),
      phdrField(0, 40),
      /PT_NOTE p_memsz: expected at most 1048576 bytes/,
    );
    expectFormatError(
      mutate((_, v) => v.setBigUint64(64 + 8, BigInt(64 << 20), true)),
      phdrField(0, 8),
      /PT_NOTE segment/,
    );
  });

  it('a PT_LOAD outside RAM or with p_filesz != p_memsz', () => {
    // Program header 3 is the kernel-text PT_LOAD, 4.. the RAM ones.
    expectFormatError(
      mutate((_, v) => v.setBigUint64(64 + 4 * 56 + 8, 0x10000000n, true)),
      phdrField(4, 8),
      /PT_LOAD: expected a segment inside old-memory RAM/,
    );
    expectFormatError(
      mutate((_, v) => v.setBigUint64(64 + 3 * 56 + 32, 1n, true)),
      phdrField(3, 32),
      /p_filesz/,
    );
  });

  it('a 64-bit field above 2^53', () => {
    expectFormatError(
      mutate((_, v) => v.setBigUint64(64 + 5 * 56 + 24, 1n << 60n, true)),
      phdrField(5, 24),
      /p_paddr/,
    );
  });

  it('names the source given in the options', () => {
    const fx = buildCoreFixture();
    expectFormatError(() => parse(fx.memory, H, 1 << 20, 'crash memory'), H, undefined, 'crash memory');
  });
});

describe('elfCoreHeaderExtent (elfcorehdr= without a size)', () => {
  it('is 64 + e_phnum × 56, capped, or 64 outside RAM', () => {
    const { memory } = buildCoreFixture();
    const isRam = (p: number, s: number) => memory.isRam(p, s);
    expect(elfCoreHeaderExtent(reader(memory), FIXTURE_HDR_PADDR, isRam)).toBe(64 + 7 * 56);
    expect(elfCoreHeaderExtent(reader(memory), 64 << 20, isRam)).toBe(64);
    memory.write(0x600000 + 56, new Uint8Array([0xff, 0xff]));
    expect(elfCoreHeaderExtent(reader(memory), 0x600000, isRam)).toBe(MAX_ELFCOREHDR_BYTES);
  });
});

describe('parseElfCoreHeader: properties', () => {
  /** Runs the parser; returns the result, or undefined for a FormatError; anything else fails the property. */
  const parseOrFormatError = (memory: PhysicalMemory, paddr: number, size: number): ParsedCore | undefined => {
    try {
      return parse(memory, paddr, size);
    } catch (e) {
      if (e instanceof FormatError) return undefined;
      throw e;
    }
  };

  const checkInvariants = (core: ParsedCore | undefined) => {
    if (!core) return;
    expect(Number.isSafeInteger(core.fileSize)).toBe(true);
    expect(core.header.length % 4096).toBe(0);
    expect(core.notes.length % 4096).toBe(0);
    expect(core.notes.length).toBeLessThanOrEqual(16 << 20);
    let off = core.header.length + core.notes.length;
    for (const l of core.loads) {
      expect(l.fileStart).toBe(off);
      expect(l.fileEnd).toBeGreaterThanOrEqual(l.fileStart);
      off = l.fileEnd;
    }
    expect(off).toBe(core.fileSize);
  };

  it('random bytes end in a result or a FormatError, nothing else', () => {
    const memory = new PhysicalMemory({ seed: 3, ram: [{ start: 0, end: 64 << 20 }] });
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 2048 }), fc.integer({ min: -5, max: 70000 }), (bytes, size) => {
        memory.write(0x100000, bytes);
        checkInvariants(parseOrFormatError(memory, 0x100000, size));
      }),
      { numRuns: 300 },
    );
  });

  it('random program headers behind a valid ELF header end in a result or a FormatError', () => {
    const memory = new PhysicalMemory({ seed: 4, ram: [{ start: 0, end: 64 << 20 }] });
    // Most program headers have tame fields (small, or near the 64 MiB of RAM) so that segments are
    // read and laid out; some have fields anywhere in 64 bits.
    const tame = fc.oneof(fc.bigInt({ min: 0n, max: 1n << 21n }), fc.bigInt({ min: 0n, max: BigInt(70 << 20) }));
    const wild = fc.oneof(tame, fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }));
    const phdr = fc.record({
      type: fc.constantFrom(0, 1, 1, 4, 4, 6, 0x70000000),
      flags: fc.integer({ min: 0, max: 7 }),
      fields: fc.oneof(
        { arbitrary: fc.array(tame, { minLength: 6, maxLength: 6 }), weight: 9 },
        { arbitrary: fc.array(wild, { minLength: 6, maxLength: 6 }), weight: 1 },
      ),
      sameSizes: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(phdr, { minLength: 1, maxLength: 12 }), (phdrs) => {
        const hdr = encodeElfcorehdr([], 64 + phdrs.length * 56);
        const v = new DataView(hdr.buffer);
        v.setUint16(56, phdrs.length, true);
        phdrs.forEach((p, i) => {
          v.setUint32(64 + i * 56, p.type, true);
          v.setUint32(64 + i * 56 + 4, p.flags, true);
          // p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align
          if (p.sameSizes) p.fields[3] = p.fields[4];
          p.fields.forEach((f, k) => v.setBigUint64(64 + i * 56 + 8 + k * 8, f, true));
        });
        memory.write(0x100000, hdr);
        checkInvariants(parseOrFormatError(memory, 0x100000, hdr.length));
      }),
      { numRuns: 300 },
    );
  });

  it('mutated valid elfcorehdrs end in a result or a FormatError', () => {
    const fx = buildCoreFixture();
    const interesting = [0n, 1n, 0xfffn, 0x1000n, 0x100000n, 0x3fff000n, 0x4000000n, 1n << 53n, (1n << 64n) - 1n];
    const edit = fc.oneof(
      fc.record({
        kind: fc.constant('byte' as const),
        pos: fc.integer({ min: 0, max: 64 + 7 * 56 - 1 }),
        value: fc.integer({ min: 0, max: 255 }),
      }),
      fc.record({
        kind: fc.constant('u64' as const),
        pos: fc.integer({ min: 0, max: (64 + 7 * 56) / 8 - 1 }),
        value: fc.constantFrom(...interesting),
      }),
    );
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 6 }), (edits) => {
        const hdr = fx.hdr.slice();
        const v = new DataView(hdr.buffer);
        for (const e of edits) {
          if (e.kind === 'byte') hdr[e.pos] = e.value;
          else v.setBigUint64(e.pos * 8, e.value, true);
        }
        fx.memory.write(FIXTURE_HDR_PADDR, hdr);
        checkInvariants(parseOrFormatError(fx.memory, FIXTURE_HDR_PADDR, FIXTURE_HDR_SIZE));
      }),
      { numRuns: 400 },
    );
  });
});
