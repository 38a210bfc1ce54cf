import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  EHDR_SIZE,
  EM_X86_64,
  encodeElfHeader,
  encodeNote,
  encodePrStatus,
  encodeProgramHeader,
  ET_CORE,
  formatVmcoreinfo,
  mix32,
  NT_PRSTATUS,
  NT_VMCOREINFO,
  PF_R,
  PF_W,
  PF_X,
  PHDR_SIZE,
  PT_LOAD,
  PT_NOTE,
  X86_64_REGS,
  type ProgramHeader,
} from '@efikdump/core';

// Test support only (not exported from the package): small ELF vmcores built in memory.

export const PS = 4096;
export const PAGE_OFFSET = 0xffff888000000000n;
export const TEXT_VADDR = 0xffffffff81000000n;

export type TestKind = 'zero' | 'text' | 'random' | 'slab' | 'free' | 'cache' | 'anon';

export interface ImageSpec {
  /** RAM ranges [start, end) in bytes; the first may end mid-page as x86's 0x9fc00 does. */
  ram: { start: number; end: number }[];
  /** Content of each frame. */
  kindOf(pfn: number): TestKind;
  /** Also map [paddr, paddr+size) through a kernel-text PT_LOAD (first in the table, as kexec-tools does). */
  kernelText?: { paddr: number; size: number };
  /** Lay a FLATMEM mem_map at this physical address (page aligned, inside RAM) describing every frame's kind. */
  memMapAt?: number;
  cpus?: number;
  /** Extra VMCOREINFO lines (or removals: value undefined). */
  vmcoreinfo?: Record<string, string | undefined>;
}

export const STRUCT_PAGE = { size: 64, flags: 0, lru: 8, mapping: 24, private: 40, mapcount: 48, refcount: 52 };
export const PG = { lru: 4, slab: 9, swapcache: 10, reserved: 12, private: 13, swapbacked: 19 };
export const BUDDY = -129;
/** Where the kernel's `mem_map` pointer variable lives (physical, in the first RAM range). */
export const MEM_MAP_PTR_PHYS = 0x8000;

/** Bytes of frame `pfn` of `kind` (zero/free: zeros; the others distinct per frame). */
export function frameBytes(kind: TestKind, pfn: number): Uint8Array {
  const out = new Uint8Array(PS);
  if (kind === 'zero' || kind === 'free') return out;
  let x = mix32(pfn, 0x5eed) | 1;
  for (let i = 0; i < PS; i++) {
    if (kind === 'random' || kind === 'anon') {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      out[i] = x & 0xff;
    } else if (kind === 'text' || kind === 'cache') {
      out[i] = 'the kernel dump page '.charCodeAt((i + pfn) % 21);
    } else {
      out[i] = i % 64 < 8 ? (pfn >> ((i % 8) * 4)) & 0xff : 0;
    }
  }
  out[0] = pfn & 0xff;
  out[1] = (pfn >> 8) & 0xff;
  out[2] = 1;
  return out;
}

function structPage(kind: TestKind, pfn: number): Uint8Array {
  const b = new Uint8Array(STRUCT_PAGE.size);
  const v = new DataView(b.buffer);
  let flags = 1n << BigInt(PG.reserved);
  let mapping = 0n;
  let mapcount = -1;
  if (kind === 'free' || kind === 'zero') {
    flags = 0n;
    mapcount = BUDDY;
  }
  if (kind === 'cache') {
    flags = 1n << BigInt(PG.lru);
    mapping = PAGE_OFFSET + 0x100000n;
  }
  if (kind === 'anon') {
    flags = (1n << BigInt(PG.lru)) | (1n << BigInt(PG.swapbacked));
    mapping = PAGE_OFFSET + 0x200000n + 1n;
    mapcount = 0;
  }
  if (kind === 'slab') flags = 1n << BigInt(PG.slab);
  v.setBigUint64(STRUCT_PAGE.flags, flags, true);
  v.setBigUint64(STRUCT_PAGE.lru, PAGE_OFFSET + BigInt(pfn * 64 + 8), true);
  v.setBigUint64(STRUCT_PAGE.mapping, mapping, true);
  v.setInt32(STRUCT_PAGE.mapcount, mapcount, true);
  v.setInt32(STRUCT_PAGE.refcount, kind === 'free' || kind === 'zero' ? 0 : 1, true);
  return b;
}

export interface BuiltImage {
  bytes: Uint8Array;
  /** Physical memory as the image holds it (zeros outside RAM). */
  phys: Uint8Array;
  maxPfn: number;
  notes: Uint8Array;
}

/** An ELF64 vmcore laid out as /proc/vmcore is: headers, one PT_NOTE, then each PT_LOAD page aligned. */
export function buildImage(spec: ImageSpec): BuiltImage {
  const top = Math.max(...spec.ram.map((r) => r.end));
  const maxPfn = Math.ceil(top / PS);
  const phys = new Uint8Array(maxPfn * PS);
  const inRam = (a: number) => spec.ram.some((r) => a >= r.start && a < r.end);
  for (let pfn = 0; pfn < maxPfn; pfn++) {
    if (!spec.ram.some((r) => pfn * PS < r.end && (pfn + 1) * PS > r.start)) continue;
    phys.set(frameBytes(spec.kindOf(pfn), pfn), pfn * PS);
  }
  const info: Record<string, string | undefined> = {
    OSRELEASE: '6.1.0-test',
    PAGESIZE: '4096',
    CRASHTIME: '1767225700',
    'NUMBER(phys_base)': '0',
  };
  if (spec.memMapAt !== undefined) {
    for (let pfn = 0; pfn < maxPfn; pfn++) phys.set(structPage(spec.kindOf(pfn), pfn), spec.memMapAt + pfn * STRUCT_PAGE.size);
    new DataView(phys.buffer).setBigUint64(MEM_MAP_PTR_PHYS, PAGE_OFFSET + BigInt(spec.memMapAt), true);
    Object.assign(info, {
      'SYMBOL(mem_map)': (PAGE_OFFSET + BigInt(MEM_MAP_PTR_PHYS)).toString(16),
      'SIZE(page)': '64',
      'OFFSET(page.flags)': '0',
      'OFFSET(page._refcount)': '52',
      'OFFSET(page.mapping)': '24',
      'OFFSET(page.lru)': '8',
      'OFFSET(page._mapcount)': '48',
      'OFFSET(page.private)': '40',
      'OFFSET(page.compound_head)': '8',
      'NUMBER(PG_lru)': String(PG.lru),
      'NUMBER(PG_private)': String(PG.private),
      'NUMBER(PG_swapcache)': String(PG.swapcache),
      'NUMBER(PG_swapbacked)': String(PG.swapbacked),
      'NUMBER(PG_slab)': String(PG.slab),
      'NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)': String(BUDDY),
    });
  }
  Object.assign(info, spec.vmcoreinfo ?? {});
  // Bytes of a partial frame outside RAM read as zeros.
  for (const r of spec.ram) {
    for (const [from, to] of [
      [Math.floor(r.start / PS) * PS, r.start],
      [r.end, Math.ceil(r.end / PS) * PS],
    ]) {
      for (let a = from; a < to; a++) if (!inRam(a)) phys[a] = 0;
    }
  }
  const text = formatVmcoreinfo(Object.entries(info).filter((e): e is [string, string] => e[1] !== undefined));
  const noteParts = Array.from({ length: spec.cpus ?? 2 }, (_, cpu) =>
    encodeNote('CORE', NT_PRSTATUS, encodePrStatus({ pid: cpu === 0 ? 42 : 0, regs: X86_64_REGS.map((_, i) => BigInt(i + cpu * 100)) })),
  );
  noteParts.push(encodeNote('VMCOREINFO', NT_VMCOREINFO, Buffer.from(text, 'latin1')));
  const notes = Buffer.concat(noteParts);
  const loads: { paddr: number; size: number; vaddr: bigint }[] = [];
  if (spec.kernelText) loads.push({ paddr: spec.kernelText.paddr, size: spec.kernelText.size, vaddr: TEXT_VADDR });
  for (const r of spec.ram) loads.push({ paddr: r.start, size: r.end - r.start, vaddr: PAGE_OFFSET + BigInt(r.start) });
  const phnum = loads.length + 1;
  const noteOff = EHDR_SIZE + phnum * PHDR_SIZE;
  let off = Math.ceil((noteOff + notes.length) / PS) * PS;
  const phdrs: ProgramHeader[] = [
    { type: PT_NOTE, flags: 0, offset: noteOff, vaddr: 0n, paddr: 0, filesz: notes.length, memsz: notes.length, align: 0 },
  ];
  const dataAt: number[] = [];
  for (const l of loads) {
    // as fs/proc/vmcore.c: the file holds whole pages, p_offset points at the byte for p_paddr
    const start = Math.floor(l.paddr / PS) * PS;
    dataAt.push(off);
    phdrs.push({
      type: PT_LOAD,
      flags: PF_R | PF_W | PF_X,
      offset: off + (l.paddr - start),
      vaddr: l.vaddr,
      paddr: l.paddr,
      filesz: l.size,
      memsz: l.size,
      align: 0,
    });
    off += Math.ceil((l.paddr + l.size) / PS) * PS - start;
  }
  const bytes = new Uint8Array(off);
  bytes.set(encodeElfHeader({ type: ET_CORE, machine: EM_X86_64, flags: 0, phoff: EHDR_SIZE, phnum }));
  phdrs.forEach((p, i) => bytes.set(encodeProgramHeader(p), EHDR_SIZE + i * PHDR_SIZE));
  bytes.set(notes, noteOff);
  loads.forEach((l, i) => {
    const start = Math.floor(l.paddr / PS) * PS;
    const end = Math.ceil((l.paddr + l.size) / PS) * PS;
    bytes.set(phys.subarray(start, Math.min(end, phys.length)), dataAt[i]);
  });
  return { bytes, phys, maxPfn, notes };
}

export function tempDir(prefix: string): { dir: string; file(name: string): string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), `efikdump-${prefix}-`));
  return { dir, file: (name) => join(dir, name), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function writeImage(path: string, image: BuiltImage): string {
  writeFileSync(path, image.bytes);
  return path;
}

/** Kinds in runs: `pattern[i]` for frames [i*run, (i+1)*run), repeating. */
export const kindRuns =
  (pattern: TestKind[], run: number) =>
  (pfn: number): TestKind =>
    pattern[Math.floor(pfn / run) % pattern.length];
