import {
  decodeElfHeader,
  decodeProgramHeaders,
  encodeNote,
  GiB,
  MiB,
  NT_PRSTATUS,
  PAGE_SIZE,
  PhysicalMemory,
  PT_LOAD,
  PT_NOTE,
  walkNotes,
  type PhysRange,
  type ProgramHeader,
} from '@efikdump/core';
import { CRASH_NOTE_BYTES } from '../kernel/crash-notes';
import { CRASH_NOTES_OFFSET_IN_PAGE, KERNEL_IMAGE_BYTES, KERNEL_PHYS, kernelVirt, PERCPU_PHYS, VMCOREINFO_PHYS } from '../kernel/layout';
import { VMCOREINFO_NOTE_BYTES } from '../kernel/vmcoreinfo';
import { buildElfCoreHeader, type ElfCoreHeaderInput } from './build-elfcorehdr';

const DIRECT_MAP = 0xffff888000000000n;
const RAM: PhysRange[] = [
  { start: 0, end: 0xa0000 },
  { start: 0x100000, end: 2 * GiB },
];
const CRASHKERNEL: PhysRange[] = [{ start: 1 * GiB, end: 1 * GiB + 512 * MiB }];
/** fadump's boot memory: the low 640 KiB and RAM up to 40 MiB, which cuts the kernel image (16–48 MiB) in two. */
const BOOT_MEMORY: PhysRange[] = [
  { start: 0, end: 0xa0000 },
  { start: 0x100000, end: 40 * MiB },
];
const DEST = CRASHKERNEL[0].start;
const COPIES = BOOT_MEMORY.map((from) => ({ from, to: DEST + from.start }));
const CPUS = 3;

function input(copies?: ElfCoreHeaderInput['copies']): ElfCoreHeaderInput {
  return {
    crashNotes: Array.from({ length: CPUS }, (_, cpu) => PERCPU_PHYS + cpu * PAGE_SIZE + CRASH_NOTES_OFFSET_IN_PAGE),
    crashNotesBytes: CRASH_NOTE_BYTES,
    vmcoreinfo: { paddr: VMCOREINFO_PHYS, size: VMCOREINFO_NOTE_BYTES },
    kernelText: { paddr: KERNEL_PHYS, vaddr: kernelVirt(KERNEL_PHYS), size: KERNEL_IMAGE_BYTES },
    systemRam: RAM,
    crashkernel: CRASHKERNEL,
    ...(copies ? { copies } : {}),
  };
}

function phdrsOf(bytes: Uint8Array): ProgramHeader[] {
  const h = decodeElfHeader(bytes, { file: 'elfcorehdr' });
  return decodeProgramHeaders(bytes, h, { file: 'elfcorehdr' });
}

/** Where the old-memory byte at `paddr` should be read: in its copy, or in place. */
function expectedSource(paddr: number): number {
  const c = COPIES.find((x) => paddr >= x.from.start && paddr < x.from.end);
  return c ? c.to + (paddr - c.from.start) : paddr;
}

const inside = (r: PhysRange, a: number, b: number): boolean => a >= r.start && b <= r.end;
const disjoint = (r: PhysRange, a: number, b: number): boolean => b <= r.start || a >= r.end;

describe('buildElfCoreHeader with copies', () => {
  const phdrs = phdrsOf(buildElfCoreHeader(input(COPIES)));
  const notes = phdrs.filter((p) => p.type === PT_NOTE);
  const loads = phdrs.filter((p) => p.type === PT_LOAD);
  const kernelLoads = loads.filter((p) => p.vaddr >= kernelVirt(0));
  const ramLoads = loads.filter((p) => p.vaddr < kernelVirt(0));

  it('keeps p_paddr and covers the same old memory as without copies', () => {
    const plain = phdrsOf(buildElfCoreHeader(input())).filter((p) => p.type === PT_LOAD);
    const cover = (ls: ProgramHeader[]) => {
      const out: [number, number][] = [];
      for (const p of [...ls].sort((a, b) => a.paddr - b.paddr)) {
        const last = out[out.length - 1];
        if (last && last[1] === p.paddr) last[1] += p.memsz;
        else out.push([p.paddr, p.paddr + p.memsz]);
      }
      return out;
    };
    expect(cover(ramLoads)).toEqual(cover(plain.slice(1)));
    expect(cover(kernelLoads)).toEqual([[KERNEL_PHYS, KERNEL_PHYS + KERNEL_IMAGE_BYTES]]);
    for (const p of loads) expect(p.filesz).toBe(p.memsz);
  });

  it('splits PT_LOADs at the edges of the copied ranges', () => {
    for (const p of loads) {
      for (const c of COPIES) expect(inside(c.from, p.paddr, p.paddr + p.memsz) || disjoint(c.from, p.paddr, p.paddr + p.memsz)).toBe(true);
    }
    // The kernel image is cut where the boot memory ends (40 MiB).
    expect(kernelLoads.map((p) => [p.paddr, p.paddr + p.memsz])).toEqual([
      [KERNEL_PHYS, 40 * MiB],
      [40 * MiB, KERNEL_PHYS + KERNEL_IMAGE_BYTES],
    ]);
    // So is the direct map: 40 MiB starts a PT_LOAD.
    expect(ramLoads.some((p) => p.paddr === 40 * MiB)).toBe(true);
    expect(ramLoads.some((p) => p.paddr + p.memsz === 40 * MiB)).toBe(true);
  });

  it('points p_offset of copied pieces into the copy, and of the rest at old memory', () => {
    for (const p of loads) expect(p.offset).toBe(expectedSource(p.paddr));
    expect(loads.filter((p) => p.offset !== p.paddr).length).toBeGreaterThanOrEqual(3);
    // Virtual addresses follow p_paddr, not the copy.
    for (const p of ramLoads) expect(p.vaddr).toBe(DIRECT_MAP + BigInt(p.paddr));
    for (const p of kernelLoads) expect(p.vaddr).toBe(kernelVirt(p.paddr));
  });

  it('reads notes inside the copy from the copy, and the others in place', () => {
    expect(notes).toHaveLength(CPUS + 1);
    for (const n of notes) {
      expect(n.offset).toBe(expectedSource(n.paddr));
    }
    // The CPU notes (36 MiB) are in boot memory; VMCOREINFO (46 MiB) is not.
    expect(notes.slice(0, CPUS).every((n) => n.offset !== n.paddr)).toBe(true);
    expect(notes[CPUS].offset).toBe(VMCOREINFO_PHYS);
  });

  it('changes nothing for a copy of memory the header does not describe', () => {
    const unrelated = [{ from: { start: CRASHKERNEL[0].start, end: CRASHKERNEL[0].start + 64 * MiB }, to: 1800 * MiB }];
    expect(Buffer.from(buildElfCoreHeader(input(unrelated))).equals(Buffer.from(buildElfCoreHeader(input())))).toBe(true);
  });

  it('without copies, every p_offset is the physical address', () => {
    for (const p of phdrsOf(buildElfCoreHeader(input()))) expect(p.offset).toBe(p.paddr);
  });

  it('reading through the headers after the copy gives the old memory, even when the original is reused', () => {
    const mem = new PhysicalMemory({ seed: 9, ram: RAM });
    const cpu1Notes = input().crashNotes[1];
    // A crash_notes buffer: one NT_PRSTATUS note, then zeros (the terminating empty note).
    const notesBuf = new Uint8Array(CRASH_NOTE_BYTES);
    notesBuf.set(encodeNote('CORE', NT_PRSTATUS, new Uint8Array(336).fill(0x3c)));
    mem.write(cpu1Notes, notesBuf);
    mem.write(20 * MiB + 123, new Uint8Array([9, 8, 7]));
    const samples = [0x1000, 0x2000 + 17, 2 * MiB, 20 * MiB, 39 * MiB + 4000, 40 * MiB, 44 * MiB, 100 * MiB];
    const old = new Map(
      samples.map((a) => {
        const b = new Uint8Array(64);
        mem.read(a, b);
        return [a, b];
      }),
    );
    for (const c of COPIES) mem.copyRange(c.from, c.to, 'fadump copy of boot memory');
    // The fadump kernel boots in boot memory and overwrites it.
    for (const r of BOOT_MEMORY) mem.fill(r, 'anon', 77, 'fadump kernel');

    const all = phdrsOf(buildElfCoreHeader(input(COPIES)));
    const readOld = (paddr: number, n: number): Uint8Array => {
      const p = all.find((h) => h.type === PT_LOAD && h.vaddr < kernelVirt(0) && paddr >= h.paddr && paddr + n <= h.paddr + h.memsz)!;
      const b = new Uint8Array(n);
      mem.read(p.offset + (paddr - p.paddr), b);
      return b;
    };
    for (const [a, want] of old) expect(Buffer.from(readOld(a, 64)).equals(Buffer.from(want))).toBe(true);

    const n = all.filter((h) => h.type === PT_NOTE)[1];
    const buf = new Uint8Array(n.filesz);
    mem.read(n.offset, buf);
    const { notes: found } = walkNotes(buf);
    expect(found).toHaveLength(1);
    expect(found[0].name).toBe('CORE');
    expect(found[0].type).toBe(NT_PRSTATUS);
    expect(Array.from(found[0].desc.subarray(0, 4))).toEqual([0x3c, 0x3c, 0x3c, 0x3c]);
  });
});
