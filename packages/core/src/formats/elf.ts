import { FormatError } from '../errors';
import { toSafeNumber } from '../units';

// ELF64 core layout: Linux include/uapi/linux/elf.h (domain reference §2).
export const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46] as const;
export const ELFCLASS64 = 2;
export const ELFDATA2LSB = 1;
export const EV_CURRENT = 1;
export const ET_CORE = 4;
export const EM_X86_64 = 62;
export const EHDR_SIZE = 64;
export const PHDR_SIZE = 56;
export const PT_LOAD = 1;
export const PT_NOTE = 4;
export const PF_X = 1;
export const PF_W = 2;
export const PF_R = 4;
export const PN_XNUM = 0xffff;
/** makedumpfile -E sets bit 0 of e_flags when pages were left out. */
export const EF_INCOMPLETE = 1;

export interface ElfHeader {
  type: number;
  machine: number;
  flags: number;
  phoff: number;
  phnum: number;
}

export interface ProgramHeader {
  type: number;
  flags: number;
  offset: number;
  vaddr: bigint;
  paddr: number;
  filesz: number;
  memsz: number;
  align: number;
}

export interface Place {
  file?: string;
  /** Offset of the buffer's first byte inside the file or source. */
  base?: number;
}

const at = (place: Place, off: number) => ({ file: place.file, offset: (place.base ?? 0) + off });

function need(buf: Uint8Array, off: number, size: number, what: string, place: Place): void {
  if (off < 0 || off + size > buf.length) {
    throw new FormatError(what, `${size} bytes`, `${Math.max(0, buf.length - off)} bytes before the end`, at(place, off));
  }
}

export function encodeElfHeader(h: ElfHeader): Uint8Array {
  const out = new Uint8Array(EHDR_SIZE);
  const v = new DataView(out.buffer);
  out.set(ELF_MAGIC, 0);
  out[4] = ELFCLASS64;
  out[5] = ELFDATA2LSB;
  out[6] = EV_CURRENT;
  v.setUint16(16, h.type, true);
  v.setUint16(18, h.machine, true);
  v.setUint32(20, EV_CURRENT, true);
  v.setBigUint64(32, BigInt(h.phoff), true);
  v.setUint32(48, h.flags, true);
  v.setUint16(52, EHDR_SIZE, true);
  v.setUint16(54, PHDR_SIZE, true);
  v.setUint16(56, h.phnum, true);
  return out;
}

/** Decodes and validates an ELF64 little-endian header as fs/proc/vmcore.c and readers expect. */
export function decodeElfHeader(buf: Uint8Array, place: Place = {}): ElfHeader {
  need(buf, 0, EHDR_SIZE, 'ELF header', place);
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let i = 0; i < 4; i++) {
    if (buf[i] !== ELF_MAGIC[i]) {
      throw new FormatError(
        'ELF magic',
        '7f 45 4c 46',
        Array.from(buf.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' '),
        at(place, 0),
      );
    }
  }
  if (buf[4] !== ELFCLASS64) throw new FormatError('ELF class', 'ELFCLASS64 (2)', String(buf[4]), at(place, 4));
  if (buf[5] !== ELFDATA2LSB) throw new FormatError('ELF data encoding', 'little-endian (1)', String(buf[5]), at(place, 5));
  if (buf[6] !== EV_CURRENT) throw new FormatError('ELF ident version', '1', String(buf[6]), at(place, 6));
  const ehsize = v.getUint16(52, true);
  if (ehsize !== EHDR_SIZE) throw new FormatError('e_ehsize', String(EHDR_SIZE), String(ehsize), at(place, 52));
  const phentsize = v.getUint16(54, true);
  if (phentsize !== PHDR_SIZE) throw new FormatError('e_phentsize', String(PHDR_SIZE), String(phentsize), at(place, 54));
  const phnum = v.getUint16(56, true);
  if (phnum === 0 || phnum === PN_XNUM) throw new FormatError('e_phnum', 'between 1 and 65534', String(phnum), at(place, 56));
  const phoff = toSafeNumber(v.getBigUint64(32, true), 'e_phoff', at(place, 32));
  return { type: v.getUint16(16, true), machine: v.getUint16(18, true), flags: v.getUint32(48, true), phoff, phnum };
}

export function encodeProgramHeader(p: ProgramHeader): Uint8Array {
  const out = new Uint8Array(PHDR_SIZE);
  const v = new DataView(out.buffer);
  v.setUint32(0, p.type, true);
  v.setUint32(4, p.flags, true);
  v.setBigUint64(8, BigInt(p.offset), true);
  v.setBigUint64(16, BigInt.asUintN(64, p.vaddr), true);
  v.setBigUint64(24, BigInt(p.paddr), true);
  v.setBigUint64(32, BigInt(p.filesz), true);
  v.setBigUint64(40, BigInt(p.memsz), true);
  v.setBigUint64(48, BigInt(p.align), true);
  return out;
}

export function decodeProgramHeader(buf: Uint8Array, off: number, place: Place = {}): ProgramHeader {
  need(buf, off, PHDR_SIZE, 'program header', place);
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const num = (rel: number, what: string) => toSafeNumber(v.getBigUint64(off + rel, true), what, at(place, off + rel));
  return {
    type: v.getUint32(off, true),
    flags: v.getUint32(off + 4, true),
    offset: num(8, 'p_offset'),
    vaddr: v.getBigUint64(off + 16, true),
    paddr: num(24, 'p_paddr'),
    filesz: num(32, 'p_filesz'),
    memsz: num(40, 'p_memsz'),
    align: num(48, 'p_align'),
  };
}

/** Program headers of an ELF image whose first bytes (header and table) are in `buf`. */
export function decodeProgramHeaders(buf: Uint8Array, header: ElfHeader, place: Place = {}): ProgramHeader[] {
  need(buf, header.phoff, header.phnum * PHDR_SIZE, `program header table (${header.phnum} entries)`, place);
  const out: ProgramHeader[] = [];
  for (let i = 0; i < header.phnum; i++) out.push(decodeProgramHeader(buf, header.phoff + i * PHDR_SIZE, place));
  return out;
}

// ---- notes (Elf64_Nhdr, 4-byte padding as Linux cores use) ----

export const NOTE_HEADER_SIZE = 12;
export const NT_PRSTATUS = 1;
export const NT_VMCOREINFO = 0;

export interface ElfNote {
  name: string;
  type: number;
  desc: Uint8Array;
  /** Offset of the note header inside the buffer it was read from. */
  offset: number;
}

export const align4 = (n: number): number => Math.ceil(n / 4) * 4;

export function noteSize(name: string, descBytes: number): number {
  return NOTE_HEADER_SIZE + align4(name.length + 1) + align4(descBytes);
}

export function encodeNote(name: string, type: number, desc: Uint8Array): Uint8Array {
  const out = new Uint8Array(noteSize(name, desc.length));
  const v = new DataView(out.buffer);
  v.setUint32(0, name.length + 1, true);
  v.setUint32(4, desc.length, true);
  v.setUint32(8, type, true);
  for (let i = 0; i < name.length; i++) out[12 + i] = name.charCodeAt(i) & 0x7f;
  out.set(desc, NOTE_HEADER_SIZE + align4(name.length + 1));
  return out;
}

/**
 * Walks a note list as fs/proc/vmcore.c does: until the end of the buffer or a header whose
 * n_namesz is 0. Every size is checked against the buffer before it is used.
 */
export function walkNotes(buf: Uint8Array, place: Place = {}): { notes: ElfNote[]; size: number } {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const notes: ElfNote[] = [];
  let off = 0;
  while (off + NOTE_HEADER_SIZE <= buf.length) {
    const namesz = v.getUint32(off, true);
    if (namesz === 0) break;
    const descsz = v.getUint32(off + 4, true);
    const type = v.getUint32(off + 8, true);
    const nameLen = align4(namesz);
    const descLen = align4(descsz);
    const total = NOTE_HEADER_SIZE + nameLen + descLen;
    if (namesz > buf.length || descsz > buf.length || off + total > buf.length) {
      throw new FormatError(
        'ELF note',
        `a note that fits in the ${buf.length - off} bytes left`,
        `namesz ${namesz}, descsz ${descsz}`,
        at(place, off),
      );
    }
    const nameBytes = buf.subarray(off + NOTE_HEADER_SIZE, off + NOTE_HEADER_SIZE + namesz);
    const end = nameBytes.indexOf(0);
    const name = decodeAscii(nameBytes.subarray(0, end < 0 ? nameBytes.length : end));
    const descStart = off + NOTE_HEADER_SIZE + nameLen;
    notes.push({ name, type, desc: buf.subarray(descStart, descStart + descsz), offset: off });
    off += total;
  }
  return { notes, size: off };
}

// ---- NT_PRSTATUS, x86-64 (domain reference §2.1) ----

export const PRSTATUS_SIZE_X86_64 = 336;
export const PRSTATUS_PID_OFFSET = 32;
export const PRSTATUS_REG_OFFSET = 112;
export const X86_64_REGS = [
  'r15',
  'r14',
  'r13',
  'r12',
  'rbp',
  'rbx',
  'r11',
  'r10',
  'r9',
  'r8',
  'rax',
  'rcx',
  'rdx',
  'rsi',
  'rdi',
  'orig_rax',
  'rip',
  'cs',
  'eflags',
  'rsp',
  'ss',
  'fs_base',
  'gs_base',
  'ds',
  'es',
  'fs',
  'gs',
] as const;
export type X86Reg = (typeof X86_64_REGS)[number];

export interface PrStatus {
  pid: number;
  /** Register values in `X86_64_REGS` order. */
  regs: bigint[];
}

export function encodePrStatus(p: PrStatus): Uint8Array {
  const out = new Uint8Array(PRSTATUS_SIZE_X86_64);
  const v = new DataView(out.buffer);
  v.setInt32(PRSTATUS_PID_OFFSET, p.pid, true);
  X86_64_REGS.forEach((_, i) => v.setBigUint64(PRSTATUS_REG_OFFSET + i * 8, BigInt.asUintN(64, p.regs[i] ?? 0n), true));
  return out;
}

export function decodePrStatus(desc: Uint8Array, place: Place = {}): PrStatus {
  if (desc.length < PRSTATUS_SIZE_X86_64) {
    throw new FormatError(
      'NT_PRSTATUS descriptor',
      `${PRSTATUS_SIZE_X86_64} bytes (x86-64 elf_prstatus)`,
      `${desc.length} bytes`,
      at(place, 0),
    );
  }
  const v = new DataView(desc.buffer, desc.byteOffset, desc.byteLength);
  return {
    pid: v.getInt32(PRSTATUS_PID_OFFSET, true),
    regs: X86_64_REGS.map((_, i) => v.getBigUint64(PRSTATUS_REG_OFFSET + i * 8, true)),
  };
}

// ---- VMCOREINFO text (domain reference §2.2) ----

export function formatVmcoreinfo(entries: readonly (readonly [string, string])[]): string {
  return entries.map(([k, v]) => `${k}=${v}\n`).join('');
}

/** KEY=VALUE lines; lines without '=' are ignored as the kernel's readers do. */
export function parseVmcoreinfo(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) map.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return map;
}

export function decodeAscii(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0) break;
    s += String.fromCharCode(bytes[i]);
  }
  return s;
}
