import fc from 'fast-check';
import { FormatError } from '../errors';
import {
  decodeAscii,
  decodeElfHeader,
  decodePrStatus,
  decodeProgramHeader,
  decodeProgramHeaders,
  EHDR_SIZE,
  EM_X86_64,
  encodeElfHeader,
  encodeNote,
  encodePrStatus,
  encodeProgramHeader,
  ET_CORE,
  formatVmcoreinfo,
  noteSize,
  NT_PRSTATUS,
  NT_VMCOREINFO,
  parseVmcoreinfo,
  PF_R,
  PF_W,
  PHDR_SIZE,
  PRSTATUS_SIZE_X86_64,
  PT_LOAD,
  PT_NOTE,
  walkNotes,
  X86_64_REGS,
  type ElfHeader,
  type ProgramHeader,
} from './elf';

const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.nat({ max: 0xffffffff });
const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const safe = fc.maxSafeNat();

const elfHeaderArb: fc.Arbitrary<ElfHeader> = fc.record({
  type: u16,
  machine: u16,
  flags: u32,
  phoff: safe,
  phnum: fc.integer({ min: 1, max: 0xfffe }),
});

const programHeaderArb: fc.Arbitrary<ProgramHeader> = fc.record({
  type: u32,
  flags: u32,
  offset: safe,
  vaddr: u64,
  paddr: safe,
  filesz: safe,
  memsz: safe,
  align: safe,
});

/** Printable ASCII without NUL: what note names are. */
const noteNameArb = fc.string({ unit: 'grapheme-ascii', maxLength: 40 });
const noteArb = fc.record({ name: noteNameArb, type: u32, desc: fc.uint8Array({ maxLength: 300 }) });

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Runs `fn`; it may return anything, but the only error it may throw is a FormatError. */
function onlyFormatErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof FormatError)) throw new Error(`expected a FormatError, got ${String(e)}`);
  }
}

/** The error `fn` throws (fails the test when it returns). */
function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error, but the call returned');
}

/** A valid ELF core prefix: header, then `phdrs` at e_phoff = 64. */
function elfImage(phdrs: readonly ProgramHeader[]): Uint8Array {
  const header = encodeElfHeader({ type: ET_CORE, machine: EM_X86_64, flags: 0, phoff: EHDR_SIZE, phnum: phdrs.length });
  return concat([header, ...phdrs.map(encodeProgramHeader)]);
}

/** Overwrites bytes and/or truncates: the damage a corrupt dump has. */
const mutationArb = fc.record({
  pokes: fc.array(fc.record({ at: fc.nat(), value: fc.nat({ max: 255 }) }), { maxLength: 8 }),
  keep: fc.option(fc.nat(), { nil: undefined }),
});
function mutate(valid: Uint8Array, m: { pokes: { at: number; value: number }[]; keep?: number }): Uint8Array {
  const out = valid.slice();
  if (out.length) for (const p of m.pokes) out[p.at % out.length] = p.value;
  return m.keep === undefined ? out : out.subarray(0, m.keep % (out.length + 1));
}

describe('ELF header', () => {
  it('round-trips', () => {
    fc.assert(
      fc.property(elfHeaderArb, (h) => {
        expect(decodeElfHeader(encodeElfHeader(h))).toEqual(h);
      }),
    );
  });

  it('lays out an ELF64 little-endian header as the ELF spec says', () => {
    const buf = encodeElfHeader({ type: ET_CORE, machine: EM_X86_64, flags: 1, phoff: 64, phnum: 3 });
    const v = new DataView(buf.buffer);
    expect(buf.length).toBe(64);
    expect(Array.from(buf.subarray(0, 7))).toEqual([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]); // \x7fELF, ELFCLASS64, LSB, EV_CURRENT
    expect(v.getUint16(16, true)).toBe(4); // e_type ET_CORE
    expect(v.getUint16(18, true)).toBe(62); // e_machine EM_X86_64
    expect(v.getBigUint64(32, true)).toBe(64n); // e_phoff
    expect(v.getUint16(52, true)).toBe(64); // e_ehsize
    expect(v.getUint16(54, true)).toBe(56); // e_phentsize
    expect(v.getUint16(56, true)).toBe(3); // e_phnum
  });

  it('decodes from a view that does not start at the beginning of its buffer', () => {
    const h = { type: ET_CORE, machine: EM_X86_64, flags: 0, phoff: 0x1234, phnum: 2 };
    const backing = new Uint8Array(EHDR_SIZE + 13);
    backing.set(encodeElfHeader(h), 13);
    expect(decodeElfHeader(backing.subarray(13))).toEqual(h);
  });

  it('says where a bad header is wrong', () => {
    const buf = encodeElfHeader({ type: ET_CORE, machine: EM_X86_64, flags: 0, phoff: 64, phnum: 1 });
    buf[4] = 1; // ELFCLASS32
    const err = thrownBy(() => decodeElfHeader(buf, { file: 'dump.vmcore', base: 0x100 }));
    expect(err).toBeInstanceOf(FormatError);
    expect(err).toMatchObject({ file: 'dump.vmcore', offset: 0x104, expected: 'ELFCLASS64 (2)', found: '1' });
    expect(() => decodeElfHeader(buf.subarray(0, 63))).toThrow(FormatError);
  });

  it('rejects phnum 0 and PN_XNUM, and e_phoff above 2^53', () => {
    const base = { type: ET_CORE, machine: EM_X86_64, flags: 0, phoff: 64, phnum: 1 };
    expect(() => decodeElfHeader(encodeElfHeader({ ...base, phnum: 0 }))).toThrow(FormatError);
    expect(() => decodeElfHeader(encodeElfHeader({ ...base, phnum: 0xffff }))).toThrow(FormatError);
    const big = encodeElfHeader(base);
    new DataView(big.buffer).setBigUint64(32, 2n ** 53n, true);
    expect(() => decodeElfHeader(big)).toThrow(FormatError);
  });

  it('throws only FormatError on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => onlyFormatErrors(() => decodeElfHeader(bytes))),
      { numRuns: 500 },
    );
  });

  it('throws only FormatError on mutated valid images (header and program headers)', () => {
    fc.assert(
      fc.property(fc.array(programHeaderArb, { minLength: 1, maxLength: 4 }), mutationArb, (phdrs, m) => {
        const bytes = mutate(elfImage(phdrs), m);
        onlyFormatErrors(() => decodeProgramHeaders(bytes, decodeElfHeader(bytes)));
      }),
      { numRuns: 500 },
    );
  });
});

describe('program headers', () => {
  it('round-trip one by one', () => {
    fc.assert(
      fc.property(programHeaderArb, (p) => {
        const buf = encodeProgramHeader(p);
        expect(buf.length).toBe(PHDR_SIZE);
        expect(decodeProgramHeader(buf, 0)).toEqual(p);
      }),
    );
  });

  it('round-trip as the table of an image', () => {
    fc.assert(
      fc.property(fc.array(programHeaderArb, { minLength: 1, maxLength: 8 }), (phdrs) => {
        const image = elfImage(phdrs);
        expect(image.length).toBe(EHDR_SIZE + phdrs.length * PHDR_SIZE);
        expect(decodeProgramHeaders(image, decodeElfHeader(image))).toEqual(phdrs);
      }),
    );
  });

  it('lays out Elf64_Phdr fields at their spec offsets', () => {
    const p: ProgramHeader = {
      type: PT_LOAD,
      flags: PF_R | PF_W,
      offset: 0x2000,
      vaddr: 0xffff888000100000n,
      paddr: 0x100000,
      filesz: 0x3000,
      memsz: 0x4000,
      align: 0,
    };
    const v = new DataView(encodeProgramHeader(p).buffer);
    expect(v.getUint32(0, true)).toBe(1);
    expect(v.getUint32(4, true)).toBe(6);
    expect(v.getBigUint64(8, true)).toBe(0x2000n);
    expect(v.getBigUint64(16, true)).toBe(0xffff888000100000n);
    expect(v.getBigUint64(24, true)).toBe(0x100000n);
    expect(v.getBigUint64(32, true)).toBe(0x3000n);
    expect(v.getBigUint64(40, true)).toBe(0x4000n);
  });

  it('checks the table against the buffer, without reading past it', () => {
    const image = elfImage([{ type: PT_NOTE, flags: 0, offset: 0, vaddr: 0n, paddr: 0, filesz: 0, memsz: 0, align: 0 }]);
    const header = decodeElfHeader(image);
    expect(() => decodeProgramHeaders(image.subarray(0, image.length - 1), header)).toThrow(FormatError);
    expect(() => decodeProgramHeaders(image, { ...header, phnum: 0xfffe })).toThrow(FormatError);
    expect(() => decodeProgramHeaders(image, { ...header, phoff: 2 ** 53 - 1 })).toThrow(FormatError);
  });

  it('throws only FormatError for random headers over random bytes', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 400 }),
        fc.record({ phoff: fc.nat({ max: 500 }), phnum: fc.integer({ min: 1, max: 10 }) }),
        (bytes, h) => {
          onlyFormatErrors(() => decodeProgramHeaders(bytes, { type: ET_CORE, machine: EM_X86_64, flags: 0, ...h }));
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('notes', () => {
  const expectedSize = (name: string, descBytes: number): number =>
    12 + Math.ceil((name.length + 1) / 4) * 4 + Math.ceil(descBytes / 4) * 4;

  it('sizes a note as a 12-byte header plus name (with NUL) and desc, each padded to 4 bytes', () => {
    expect(noteSize('CORE', 336)).toBe(12 + 8 + 336);
    expect(noteSize('VMCOREINFO', 5)).toBe(12 + 12 + 8);
    expect(noteSize('', 0)).toBe(16);
    fc.assert(
      fc.property(noteArb, ({ name, type, desc }) => {
        const encoded = encodeNote(name, type, desc);
        expect(encoded.length).toBe(expectedSize(name, desc.length));
        expect(noteSize(name, desc.length)).toBe(encoded.length);
        expect(encoded.length % 4).toBe(0);
      }),
    );
  });

  it('pads with zeros and terminates the name with NUL', () => {
    const encoded = encodeNote('CORE', NT_PRSTATUS, Uint8Array.of(9, 9, 9));
    const v = new DataView(encoded.buffer);
    expect([v.getUint32(0, true), v.getUint32(4, true), v.getUint32(8, true)]).toEqual([5, 3, 1]);
    expect(Array.from(encoded.subarray(12))).toEqual([0x43, 0x4f, 0x52, 0x45, 0, 0, 0, 0, 9, 9, 9, 0]);
  });

  it('round-trip through walkNotes, with offsets and the total size', () => {
    fc.assert(
      fc.property(fc.array(noteArb, { maxLength: 6 }), fc.boolean(), (notes, terminated) => {
        const encoded = notes.map((n) => encodeNote(n.name, n.type, n.desc));
        // Either the buffer ends with the last note, or an all-zero header ends the list.
        const buf = concat([...encoded, terminated ? new Uint8Array(12) : new Uint8Array(0)]);
        const { notes: got, size } = walkNotes(buf);
        expect(got.map((n) => ({ name: n.name, type: n.type, desc: Array.from(n.desc) }))).toEqual(
          notes.map((n) => ({ name: n.name, type: n.type, desc: Array.from(n.desc) })),
        );
        let off = 0;
        got.forEach((n, i) => {
          expect(n.offset).toBe(off);
          off += expectedSize(notes[i].name, notes[i].desc.length);
        });
        expect(size).toBe(off);
      }),
    );
  });

  it('stops at a trailing fragment shorter than a note header', () => {
    const note = encodeNote('CORE', NT_PRSTATUS, new Uint8Array(8));
    const { notes, size } = walkNotes(concat([note, Uint8Array.of(1, 2, 3, 4, 5)]));
    expect(notes).toHaveLength(1);
    expect(size).toBe(note.length);
  });

  it('rejects a header claiming namesz 0xffffffff with a FormatError, without allocating for it', () => {
    const buf = new Uint8Array(64);
    const v = new DataView(buf.buffer);
    v.setUint32(0, 0xffffffff, true);
    v.setUint32(4, 4, true);
    const before = process.memoryUsage().arrayBuffers;
    const err = thrownBy(() => walkNotes(buf, { file: 'vmcore', base: 0x40 }));
    const grown = process.memoryUsage().arrayBuffers - before;
    expect(err).toBeInstanceOf(FormatError);
    expect(err).toMatchObject({ file: 'vmcore', offset: 0x40 });
    expect((err as FormatError).found).toContain(String(0xffffffff));
    // A 4 GiB name buffer, or any copy of one, would show up here.
    expect(grown).toBeLessThan(1024 * 1024);
  });

  it('rejects a descsz past the end, and names the offset of the bad note', () => {
    const first = encodeNote('CORE', NT_PRSTATUS, new Uint8Array(16));
    const bad = encodeNote('CORE', NT_PRSTATUS, new Uint8Array(16));
    new DataView(bad.buffer).setUint32(4, 0xffffffff, true);
    const err = thrownBy(() => walkNotes(concat([first, bad]), { base: 0x1000 }));
    expect(err).toBeInstanceOf(FormatError);
    expect((err as FormatError).offset).toBe(0x1000 + first.length);
    const short = encodeNote('CORE', NT_PRSTATUS, new Uint8Array(16));
    expect(() => walkNotes(short.subarray(0, short.length - 4))).toThrow(FormatError);
  });

  it('throws only FormatError on random bytes and on mutated valid note lists', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => onlyFormatErrors(() => walkNotes(bytes))),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.array(noteArb, { minLength: 1, maxLength: 4 }), mutationArb, (notes, m) => {
        const bytes = mutate(concat(notes.map((n) => encodeNote(n.name, n.type, n.desc))), m);
        onlyFormatErrors(() => {
          const { notes: got, size } = walkNotes(bytes);
          // Whatever it accepts lies inside the buffer.
          expect(size).toBeLessThanOrEqual(bytes.length);
          for (const n of got) expect(n.desc.byteOffset + n.desc.length).toBeLessThanOrEqual(bytes.byteOffset + bytes.length);
        });
      }),
      { numRuns: 500 },
    );
  });

  it('handles a note whose (valid, in-bounds) name is 1 MiB long', () => {
    const namesz = 1 << 20;
    const buf = new Uint8Array(12 + namesz);
    const v = new DataView(buf.buffer);
    v.setUint32(0, namesz, true);
    buf.fill(0x41, 12, 12 + namesz - 1);
    onlyFormatErrors(() => walkNotes(buf));
  });
});

describe('NT_PRSTATUS (x86-64)', () => {
  const prstatusArb = fc.record({
    pid: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    regs: fc.array(u64, { minLength: X86_64_REGS.length, maxLength: X86_64_REGS.length }),
  });

  it('round-trips', () => {
    fc.assert(
      fc.property(prstatusArb, (p) => {
        const desc = encodePrStatus(p);
        expect(desc.length).toBe(PRSTATUS_SIZE_X86_64);
        expect(decodePrStatus(desc)).toEqual(p);
      }),
    );
  });

  it('puts pr_pid and pr_reg where struct elf_prstatus has them', () => {
    // elf_prstatus_common: pr_info (12) + pr_cursig (2, padded to 4) + sigpend (8) + sighold (8)
    // puts pr_pid at 32; four pids and four timevals later pr_reg starts at 112, and
    // user_regs_struct lists rip as its 17th register (r15 first).
    const regs = X86_64_REGS.map((_, i) => BigInt(i + 1) * 0x0101010101010101n);
    const desc = encodePrStatus({ pid: 4242, regs });
    const v = new DataView(desc.buffer);
    expect(v.getInt32(32, true)).toBe(4242);
    expect(X86_64_REGS.indexOf('rip')).toBe(16);
    expect(v.getBigUint64(112 + 16 * 8, true)).toBe(regs[16]);
    expect(v.getBigUint64(112, true)).toBe(regs[0]);
  });

  it('wraps negative register values to 64 bits and fills missing ones with 0', () => {
    const decoded = decodePrStatus(encodePrStatus({ pid: 1, regs: [-1n] }));
    expect(decoded.regs[0]).toBe(2n ** 64n - 1n);
    expect(decoded.regs.slice(1).every((r) => r === 0n)).toBe(true);
  });

  it('rejects a descriptor shorter than elf_prstatus', () => {
    expect(() => decodePrStatus(new Uint8Array(PRSTATUS_SIZE_X86_64 - 1))).toThrow(FormatError);
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (b) => onlyFormatErrors(() => decodePrStatus(b))));
  });
});

describe('VMCOREINFO', () => {
  const keyArb = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_()]{0,30}$/);
  const valueArb = fc.string({ unit: 'grapheme-ascii', maxLength: 40 }); // may contain '=', never '\n'

  it('round-trips KEY=VALUE entries', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(keyArb, valueArb), { selector: ([k]) => k, maxLength: 20 }), (entries) => {
        const text = formatVmcoreinfo(entries);
        expect(parseVmcoreinfo(text)).toEqual(new Map(entries));
      }),
    );
  });

  it('formats one line per entry and ignores lines without a key', () => {
    const text = formatVmcoreinfo([
      ['OSRELEASE', '6.8.0'],
      ['PAGESIZE', '4096'],
      ['SYMBOL(swapper_pg_dir)', 'ffffffff82a0a000'],
    ]);
    expect(text).toBe('OSRELEASE=6.8.0\nPAGESIZE=4096\nSYMBOL(swapper_pg_dir)=ffffffff82a0a000\n');
    const parsed = parseVmcoreinfo(`${text}garbage line\n=nokey\nCRASHTIME=1700000000`);
    expect([...parsed.keys()]).toEqual(['OSRELEASE', 'PAGESIZE', 'SYMBOL(swapper_pg_dir)', 'CRASHTIME']);
    expect(parsed.get('CRASHTIME')).toBe('1700000000');
  });

  it('travels in a VMCOREINFO note and reads back through decodeAscii', () => {
    const text = formatVmcoreinfo([['PAGESIZE', '4096']]);
    const note = encodeNote(
      'VMCOREINFO',
      NT_VMCOREINFO,
      Uint8Array.from(text, (c) => c.charCodeAt(0)),
    );
    const [got] = walkNotes(note).notes;
    expect(got.name).toBe('VMCOREINFO');
    expect(parseVmcoreinfo(decodeAscii(got.desc)).get('PAGESIZE')).toBe('4096');
    expect(decodeAscii(Uint8Array.of(0x41, 0x42, 0, 0x43))).toBe('AB');
  });
});
