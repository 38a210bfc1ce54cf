import fc from 'fast-check';
import { SimulationError, type VmcoreView } from '@efikdump/core';
import { parseElfCoreHeader } from '../elfcorehdr/parse-elfcorehdr';
import {
  buildCoreFixture,
  encodeElfcorehdr,
  FIXTURE_HDR_PADDR,
  FIXTURE_HDR_SIZE,
  FIXTURE_SYSTEM_RAM,
  KERNEL_TEXT,
  loadHeader,
  noteHeader,
  CRASH_NOTES_BASE,
} from '../testing/core-fixture';
import { expectSameBytes } from '../testing/run-context';
import { ProcVmcore, vmcoreChunks } from './proc-vmcore';

const fx = buildCoreFixture({ cpus: 2 });
const mem = fx.memory;
const core = parseElfCoreHeader((p, d) => mem.read(p, d), FIXTURE_HDR_PADDR, FIXTURE_HDR_SIZE, { isRam: (p, s) => mem.isRam(p, s) });
const view = ProcVmcore.fromMemory(core, mem);

const readView = (v: VmcoreView, offset: number, len: number) => {
  const out = new Uint8Array(len);
  v.read(offset, out);
  return out;
};
const readMem = (paddr: number, len: number) => {
  const out = new Uint8Array(len);
  mem.read(paddr, out);
  return out;
};

describe('ProcVmcore.read', () => {
  it('has the size of the layout and serves the header and notes areas from the parsed core', () => {
    expect(view.size).toBe(0x39a1000);
    expect(readView(view, 0, 4096)).toEqual(core.header);
    expect(readView(view, 4096, 4096)).toEqual(core.notes);
  });

  it('reads across the notes → first PT_LOAD boundary', () => {
    const got = readView(view, 8192 - 96, 200);
    expect(got.subarray(0, 96)).toEqual(core.notes.subarray(4000));
    expect(got.subarray(96)).toEqual(readMem(KERNEL_TEXT.paddr, 104));
  });

  it('reads the page rounding past a segment end as old memory, as /proc/vmcore does', () => {
    // The first RAM range ends at 0x9fc00; its file range runs to the page end 0xa0000.
    const fileOfEnd = 0xa02000 + (0x9fc00 - 0x1000);
    expect(readView(view, fileOfEnd, 0x400)).toEqual(readMem(0x9fc00, 0x400));
    // ... and on into the next PT_LOAD, which starts at 0x100000.
    const got = readView(view, 0xaa1000 - 16, 32);
    expect(got.subarray(0, 16)).toEqual(readMem(0xa0000 - 16, 16));
    expect(got.subarray(16)).toEqual(readMem(0x100000, 16));
  });

  it('gives the bytes of a physical address at fileOffsetOf(paddr)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...FIXTURE_SYSTEM_RAM),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 1, max: 9000 }),
        (r, where, len) => {
          const paddr = r.start + Math.floor(where * (r.end - r.start - 1));
          const n = Math.min(len, r.end - paddr);
          const off = view.fileOffsetOf(paddr);
          expect(off).toBeDefined();
          expectSameBytes(readView(view, off!, n), readMem(paddr, n));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('returns the same bytes however a read is split', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(0, 4096, 8192, 0xa02000, 0xaa1000, 0x29a1000, 0x39a1000 - 1),
        fc.integer({ min: -6000, max: 6000 }),
        fc.integer({ min: 1, max: 12000 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 5 }),
        (anchor, delta, len, cutsAt) => {
          const offset = Math.max(0, Math.min(view.size - 1, anchor + delta));
          const n = Math.min(len, view.size - offset);
          const whole = readView(view, offset, n);
          const cuts = [...new Set(cutsAt.map((c) => Math.floor(c * n)))].sort((a, b) => a - b);
          const pieces = new Uint8Array(n);
          let prev = 0;
          for (const c of [...cuts, n]) {
            if (c > prev) pieces.set(readView(view, offset + prev, c - prev), prev);
            prev = Math.max(prev, c);
          }
          expectSameBytes(pieces, whole);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('rejects reads outside the file', () => {
    expect(() => view.read(view.size - 1, new Uint8Array(2))).toThrow(SimulationError);
    expect(() => view.read(-1, new Uint8Array(1))).toThrow(SimulationError);
    expect(() => view.read(0.5, new Uint8Array(1))).toThrow(SimulationError);
    expect(() => view.read(view.size, new Uint8Array(0))).not.toThrow();
  });
});

describe('ProcVmcore.fileOffsetOf', () => {
  it('prefers the direct-map PT_LOAD over the kernel-text one that duplicates it', () => {
    // 0x1000005 is in the kernel-text PT_LOAD (first) and in the RAM PT_LOAD at 0x100000.
    expect(view.fileOffsetOf(KERNEL_TEXT.paddr + 5)).toBe(0xaa1000 + (KERNEL_TEXT.paddr - 0x100000) + 5);
    expect(view.loadOf(KERNEL_TEXT.paddr)?.paddr).toBe(0x100000);
  });

  it('falls back to the kernel-text PT_LOAD when it is the only one', () => {
    const { memory } = buildCoreFixture();
    memory.write(
      FIXTURE_HDR_PADDR,
      encodeElfcorehdr([noteHeader(CRASH_NOTES_BASE, 368), loadHeader(KERNEL_TEXT.paddr, 0x10000, KERNEL_TEXT.vaddr)], FIXTURE_HDR_SIZE),
    );
    const only = ProcVmcore.fromMemory(
      parseElfCoreHeader((p, d) => memory.read(p, d), FIXTURE_HDR_PADDR, FIXTURE_HDR_SIZE, { isRam: (p, s) => memory.isRam(p, s) }),
      memory,
    );
    expect(only.fileOffsetOf(KERNEL_TEXT.paddr + 0x10)).toBe(8192 + 0x10);
  });

  it('is undefined outside the PT_LOADs: crashkernel, past p_memsz, negative', () => {
    expect(view.fileOffsetOf(0x2000000)).toBeUndefined();
    expect(view.fileOffsetOf(0x9fc00)).toBeUndefined();
    expect(view.fileOffsetOf(0x9fbff)).toBe(0xa02000 + 0x9fbff - 0x1000);
    expect(view.fileOffsetOf(0)).toBeUndefined();
    expect(view.fileOffsetOf(-4096)).toBeUndefined();
    expect(view.fileOffsetOf(64 << 20)).toBeUndefined();
  });
});

describe('bounded iteration', () => {
  it('vmcoreChunks covers the file once through one reused buffer', () => {
    const buffers = new Set<ArrayBufferLike>();
    let expected = 0;
    let chunks = 0;
    for (const { offset, data } of vmcoreChunks(view, 1 << 20)) {
      expect(offset).toBe(expected);
      expect(data.length).toBeLessThanOrEqual(1 << 20);
      buffers.add(data.buffer);
      expected += data.length;
      chunks++;
    }
    expect(expected).toBe(view.size);
    expect(chunks).toBe(Math.ceil(view.size / (1 << 20)));
    expect(buffers.size).toBe(1);
  });

  it('stream() yields the same bytes as read()', async () => {
    let n = 0;
    for await (const { offset, data } of view.stream(3 << 20)) {
      if (n++ % 7 === 0) expectSameBytes(data, readView(view, offset, data.length));
    }
    expect(n).toBe(Math.ceil(view.size / (3 << 20)));
  });
});
