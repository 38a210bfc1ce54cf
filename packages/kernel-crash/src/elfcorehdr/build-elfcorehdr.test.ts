import fc from 'fast-check';
import {
  decodeElfHeader,
  decodeProgramHeaders,
  EHDR_SIZE,
  EM_X86_64,
  ET_CORE,
  GiB,
  MiB,
  PAGE_SIZE,
  PF_R,
  PF_W,
  PF_X,
  PHDR_SIZE,
  PT_LOAD,
  PT_NOTE,
  type PhysRange,
  type ProgramHeader,
} from '@efikdump/core';
import { CRASH_NOTE_BYTES } from '../kernel/crash-notes';
import { KERNEL_IMAGE_BYTES, KERNEL_PHYS, kernelVirt, PERCPU_PHYS, CRASH_NOTES_OFFSET_IN_PAGE, VMCOREINFO_PHYS } from '../kernel/layout';
import { VMCOREINFO_NOTE_BYTES } from '../kernel/vmcoreinfo';
import { buildElfCoreHeader, type ElfCoreHeaderInput } from './build-elfcorehdr';

const DIRECT_MAP = 0xffff888000000000n;
const RWX = PF_R | PF_W | PF_X;

/**
 * System RAM minus the reservation, computed independently of core's range helpers: cut the
 * address space at every boundary, keep the pieces in RAM and not reserved, merge neighbours.
 */
function ramMinusReservation(ram: readonly PhysRange[], reserved: readonly PhysRange[]): PhysRange[] {
  const cuts = [...new Set([...ram, ...reserved].flatMap((r) => [r.start, r.end]))].sort((a, b) => a - b);
  const inside = (rs: readonly PhysRange[], a: number) => rs.some((r) => a >= r.start && a < r.end);
  const out: PhysRange[] = [];
  for (let i = 0; i + 1 < cuts.length; i++) {
    const [start, end] = [cuts[i], cuts[i + 1]];
    if (!inside(ram, start) || inside(reserved, start)) continue;
    const last = out[out.length - 1];
    if (last && last.end === start) out[out.length - 1] = { start: last.start, end };
    else out.push({ start, end });
  }
  return out;
}

function decode(bytes: Uint8Array): { phdrs: ProgramHeader[]; type: number; machine: number; phoff: number } {
  const header = decodeElfHeader(bytes, { file: 'elfcorehdr' });
  return { ...header, phdrs: decodeProgramHeaders(bytes, header, { file: 'elfcorehdr' }) };
}

const kernelText = { paddr: KERNEL_PHYS, vaddr: kernelVirt(KERNEL_PHYS), size: KERNEL_IMAGE_BYTES };
const crashNotesFor = (cpus: number): number[] =>
  Array.from({ length: cpus }, (_, cpu) => PERCPU_PHYS + cpu * PAGE_SIZE + CRASH_NOTES_OFFSET_IN_PAGE);

/**
 * Arbitrary System RAM (1..8 page-aligned ranges, touching or with holes) and a reservation of
 * 1 or 2 ranges inside it (possibly a whole RAM range).
 */
const machineArb = fc
  .array(fc.tuple(fc.integer({ min: 0, max: 4096 }), fc.integer({ min: 1, max: 1 << 20 })), { minLength: 1, maxLength: 8 })
  .chain((pieces) => {
    const ram: PhysRange[] = [];
    let at = 0;
    for (const [gapPages, pages] of pieces) {
      const start = at + gapPages * PAGE_SIZE;
      ram.push({ start, end: start + pages * PAGE_SIZE });
      at = start + pages * PAGE_SIZE;
    }
    const sub = fc
      .tuple(fc.nat({ max: ram.length - 1 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }))
      .map(([i, a, b]) => {
        const r = ram[i];
        const pages = (r.end - r.start) / PAGE_SIZE;
        const p = Math.floor(Math.min(a, b) * pages);
        const q = Math.max(p + 1, Math.ceil(Math.max(a, b) * pages));
        return { start: r.start + p * PAGE_SIZE, end: r.start + q * PAGE_SIZE };
      });
    return fc.record({
      ram: fc.constant(ram),
      crashkernel: fc.array(sub, { minLength: 1, maxLength: 2 }).filter(([a, b]) => !b || a.end <= b.start || b.end <= a.start),
      cpus: fc.integer({ min: 1, max: 64 }),
    });
  });

function inputFor(m: { ram: PhysRange[]; crashkernel: PhysRange[]; cpus: number }): ElfCoreHeaderInput {
  return {
    crashNotes: crashNotesFor(m.cpus),
    crashNotesBytes: CRASH_NOTE_BYTES,
    vmcoreinfo: { paddr: VMCOREINFO_PHYS, size: VMCOREINFO_NOTE_BYTES },
    kernelText,
    systemRam: m.ram,
    crashkernel: m.crashkernel,
  };
}

function expectKexecToolsShape(bytes: Uint8Array, input: ElfCoreHeaderInput): void {
  const { type, machine, phoff, phdrs } = decode(bytes);
  expect(type).toBe(ET_CORE);
  expect(machine).toBe(EM_X86_64);
  expect(phoff).toBe(EHDR_SIZE);
  expect(bytes.length).toBe(EHDR_SIZE + phdrs.length * PHDR_SIZE);
  // e_ident: ELFCLASS64, little-endian, version 1, OSABI 0; no sections, no entry point.
  expect(Array.from(bytes.subarray(0, 16))).toEqual([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, ...new Array(9).fill(0)]);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  expect([v.getBigUint64(24, true), v.getBigUint64(40, true), v.getUint16(58, true), v.getUint16(60, true), v.getUint16(62, true)]).toEqual(
    [0n, 0n, 0, 0, 0],
  );

  const cpus = input.crashNotes.length;
  const notes = phdrs.filter((p) => p.type === PT_NOTE);
  const loads = phdrs.filter((p) => p.type === PT_LOAD);
  expect(notes.length + loads.length).toBe(phdrs.length);
  expect(notes).toHaveLength(cpus + 1);

  // One PT_NOTE per CPU, in CPU order: p_offset = p_paddr = the crash_notes buffer, its size.
  notes.slice(0, cpus).forEach((p, cpu) => {
    expect(p).toEqual({
      type: PT_NOTE,
      flags: 0,
      offset: input.crashNotes[cpu],
      vaddr: 0n,
      paddr: input.crashNotes[cpu],
      filesz: 368,
      memsz: 368,
      align: 0,
    });
  });
  // One for VMCOREINFO.
  expect(notes[cpus]).toEqual({
    type: PT_NOTE,
    flags: 0,
    offset: VMCOREINFO_PHYS,
    vaddr: 0n,
    paddr: VMCOREINFO_PHYS,
    filesz: VMCOREINFO_NOTE_BYTES,
    memsz: VMCOREINFO_NOTE_BYTES,
    align: 0,
  });

  // The kernel-text PT_LOAD first, at __START_KERNEL_map + 16 MiB.
  expect(loads[0]).toEqual({
    type: PT_LOAD,
    flags: RWX,
    offset: KERNEL_PHYS,
    vaddr: 0xffffffff81000000n,
    paddr: KERNEL_PHYS,
    filesz: KERNEL_IMAGE_BYTES,
    memsz: KERNEL_IMAGE_BYTES,
    align: 0,
  });
  // phys_base as the tools derive it from that PT_LOAD: 0 (nokaslr).
  expect(BigInt(loads[0].paddr) - (loads[0].vaddr - 0xffffffff80000000n)).toBe(0n);

  // Then the direct map: exactly System RAM minus the reservation, in order.
  const ram = loads.slice(1);
  expect(ram.map((p) => ({ start: p.paddr, end: p.paddr + p.memsz }))).toEqual(ramMinusReservation(input.systemRam, input.crashkernel));
  for (const p of ram) {
    expect(p.flags).toBe(RWX);
    expect(p.offset).toBe(p.paddr);
    expect(p.filesz).toBe(p.memsz);
    expect(p.vaddr).toBe(DIRECT_MAP + BigInt(p.paddr));
    expect(p.align).toBe(0);
    for (const r of input.crashkernel) expect(p.paddr + p.memsz <= r.start || p.paddr >= r.end).toBe(true);
  }
}

describe('buildElfCoreHeader', () => {
  it('builds what kexec-tools builds for a q35-like 4 GiB, 4-CPU machine', () => {
    const input = inputFor({
      ram: [
        { start: 0, end: 0xa0000 },
        { start: 0x100000, end: 2 * GiB - 8 * MiB },
        { start: 2 * GiB - 4 * MiB, end: 2 * GiB },
        { start: 4 * GiB, end: 6 * GiB },
      ],
      crashkernel: [{ start: 1600 * MiB, end: 1856 * MiB }],
      cpus: 4,
    });
    const bytes = buildElfCoreHeader(input);
    expectKexecToolsShape(bytes, input);
    const loads = decode(bytes)
      .phdrs.filter((p) => p.type === PT_LOAD)
      .slice(1);
    expect(loads.map((p) => [p.paddr, p.paddr + p.memsz])).toEqual([
      [0, 0xa0000],
      [0x100000, 1600 * MiB],
      [1856 * MiB, 2 * GiB - 8 * MiB],
      [2 * GiB - 4 * MiB, 2 * GiB],
      [4 * GiB, 6 * GiB],
    ]);
    expect(bytes.length).toBe(64 + 56 * (4 + 1 + 1 + 5));
  });

  it('has the kexec-tools shape for any RAM layout, reservation and CPU count', () => {
    fc.assert(
      fc.property(machineArb, (m) => {
        const input = inputFor(m);
        expectKexecToolsShape(buildElfCoreHeader(input), input);
      }),
      { numRuns: 300 },
    );
  });

  it('leaves out a RAM range the reservation covers entirely, and splits one it sits inside', () => {
    const input = inputFor({
      ram: [
        { start: 0x100000, end: 64 * MiB },
        { start: 128 * MiB, end: 256 * MiB },
        { start: 4 * GiB, end: 5 * GiB },
      ],
      crashkernel: [
        { start: 128 * MiB, end: 256 * MiB },
        { start: 4 * GiB + 16 * MiB, end: 4 * GiB + 32 * MiB },
      ],
      cpus: 1,
    });
    const loads = decode(buildElfCoreHeader(input))
      .phdrs.filter((p) => p.type === PT_LOAD)
      .slice(1);
    expect(loads.map((p) => [p.paddr, p.paddr + p.memsz])).toEqual([
      [0x100000, 64 * MiB],
      [4 * GiB, 4 * GiB + 16 * MiB],
      [4 * GiB + 32 * MiB, 5 * GiB],
    ]);
  });

  it('addresses above 4 GiB and up to 64 TiB survive the 64-bit fields', () => {
    const top = 64 * 1024 * GiB;
    const input = inputFor({
      ram: [
        { start: 0x100000, end: 2 * GiB },
        { start: 4 * GiB, end: top },
      ],
      crashkernel: [{ start: top - 512 * MiB, end: top }],
      cpus: 2,
    });
    const bytes = buildElfCoreHeader(input);
    expectKexecToolsShape(bytes, input);
    const last = decode(bytes).phdrs[decode(bytes).phdrs.length - 1];
    expect(last.paddr + last.memsz).toBe(top - 512 * MiB);
    expect(last.vaddr).toBe(DIRECT_MAP + BigInt(4 * GiB));
  });
});
