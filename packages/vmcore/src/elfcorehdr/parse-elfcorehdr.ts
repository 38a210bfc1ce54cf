import {
  decodeElfHeader,
  decodeProgramHeader,
  EHDR_SIZE,
  EM_X86_64,
  encodeProgramHeader,
  ET_CORE,
  EV_CURRENT,
  FormatError,
  hex,
  KiB,
  MiB,
  pageAlignDown,
  pageAlignUp,
  PHDR_SIZE,
  PT_LOAD,
  PT_NOTE,
  type ElfHeader,
  type ElfNote,
  type ErrorPlace,
  type ProgramHeader,
  encodeNote,
  encodeLostRanges,
  LOST_RANGES_NOTE_NAME,
  mergeRanges,
  NT_EFIKDUMP_LOST_RANGES,
  subtractRanges,
  type LostRange,
} from '@efikdump/core';
import { decodeNotes, scanNoteSegment } from './notes';

/** kexec-tools reserves at least 16 KiB for the elfcorehdr (domain reference §1.5); we accept up to 64 KiB. */
export const MAX_ELFCOREHDR_BYTES = 64 * KiB;
/** A PT_NOTE larger than this is rejected before anything is read (crash_notes and VMCOREINFO are a few KiB). */
export const MAX_PT_NOTE_BYTES = 1 * MiB;
/** Cap on the merged notes of all PT_NOTEs together. */
export const MAX_MERGED_NOTES_BYTES = 16 * MiB;

/** Physical reads of the crashed kernel's memory. */
export type OldMemoryReader = (paddr: number, dst: Uint8Array) => void;

export interface ParseElfCoreHeaderOptions {
  /** True when [paddr, paddr + size) is RAM of the old kernel that can be read. */
  isRam(paddr: number, size: number): boolean;
  /** Name for error messages (default "old memory"). */
  source?: string;
  /**
   * Old memory known to be lost (the firmware may have written it since the crash): left out of
   * every PT_LOAD (a segment is split around it) and listed in a lost-ranges note appended to the
   * merged PT_NOTE. Page aligned.
   */
  lost?: readonly LostRange[];
}

/** One PT_LOAD of /proc/vmcore and the old memory behind it. */
export interface VmcoreLoad {
  /** Index of this PT_LOAD in the new program header table. */
  phdrIndex: number;
  /** p_paddr: the physical address the segment stands for. */
  paddr: number;
  vaddr: bigint;
  /** p_memsz (== p_filesz) in bytes. */
  size: number;
  /** The new p_offset: file offset of byte `paddr`. */
  fileOffset: number;
  /** rounddown(old p_offset, PAGE): first old-memory byte copied into the file. */
  physStart: number;
  /** File range [fileStart, fileEnd) holds old memory [physStart, physStart + fileEnd - fileStart). */
  fileStart: number;
  fileEnd: number;
}

/** The elfcorehdr turned into the layout of /proc/vmcore (Linux fs/proc/vmcore.c). */
export interface ParsedCore {
  /** Where the elfcorehdr was read. */
  elfcorehdr: { paddr: number; size: number };
  /** The new ELF header (e_phnum after the merge). */
  elfHeader: ElfHeader;
  /** The new program headers: the merged PT_NOTE first, then the others in their original order. */
  phdrs: ProgramHeader[];
  /** ELF header + program headers, zero-padded to the header area (a multiple of PAGE_SIZE). */
  header: Uint8Array;
  /** 64 + e_phnum × 56 before padding. */
  headerBytes: number;
  /** All notes merged, zero-padded to the notes area (a multiple of PAGE_SIZE). */
  notes: Uint8Array;
  /** Sum of the real note sizes (the merged PT_NOTE's p_filesz). */
  notesBytes: number;
  /** The notes, each with its offset in the new file. */
  noteList: ElfNote[];
  /** PT_LOADs in program-header order; their file ranges are contiguous and increasing. */
  loads: VmcoreLoad[];
  /** Size of /proc/vmcore. */
  fileSize: number;
  /** What the kernel would pr_warn() about while parsing. */
  warnings: string[];
  /** The ranges left out and declared in the lost-ranges note (empty when none). */
  lost: LostRange[];
}

/**
 * Reads the elfcorehdr the 1st kernel left at physical `paddr` and builds /proc/vmcore's layout
 * from it, as Linux fs/proc/vmcore.c `parse_crash_elf64_headers` does: validate the ELF header,
 * find each PT_NOTE's real size, merge all notes into one PT_NOTE, and give every PT_LOAD a file
 * offset (domain reference §1.6). Every failure is a FormatError naming the physical address of
 * the bad field; nothing is read outside `opts.isRam`, and no buffer is larger than the caps above.
 */
export function parseElfCoreHeader(readPhys: OldMemoryReader, paddr: number, size: number, opts: ParseElfCoreHeaderOptions): ParsedCore {
  const file = opts.source ?? 'old memory';
  const at = (off: number): ErrorPlace => ({ file, offset: paddr + off });
  if (!Number.isSafeInteger(paddr) || paddr < 0) {
    throw new FormatError('elfcorehdr address', 'a physical address below 2^53', String(paddr), { file });
  }
  if (!Number.isSafeInteger(size) || size < EHDR_SIZE || size > MAX_ELFCOREHDR_BYTES) {
    throw new FormatError('elfcorehdr size', `${EHDR_SIZE} to ${MAX_ELFCOREHDR_BYTES} bytes`, `${size} bytes`, at(0));
  }
  const readChecked = (addr: number, dst: Uint8Array, what: string, fieldPlace: ErrorPlace): void => {
    if (dst.length > 0 && !opts.isRam(addr, dst.length)) {
      throw new FormatError(what, 'a range inside old-memory RAM', `${hex(addr)}-${hex(addr + dst.length)}`, fieldPlace);
    }
    if (dst.length > 0) readPhys(addr, dst);
  };

  // ELF header: magic, class, data, ident version, ehsize, phentsize, phnum (core), then type/arch/e_version.
  const ehdr = new Uint8Array(EHDR_SIZE);
  readChecked(paddr, ehdr, 'elfcorehdr', at(0));
  const header = decodeElfHeader(ehdr, { file, base: paddr });
  const ev = new DataView(ehdr.buffer);
  if (header.type !== ET_CORE) throw new FormatError('e_type', `ET_CORE (${ET_CORE})`, String(header.type), at(16));
  if (header.machine !== EM_X86_64) throw new FormatError('e_machine', `EM_X86_64 (${EM_X86_64})`, String(header.machine), at(18));
  const version = ev.getUint32(20, true);
  if (version !== EV_CURRENT) throw new FormatError('e_version', String(EV_CURRENT), String(version), at(20));
  // The kernel reads the program headers right after the ELF header, whatever e_phoff says.
  if (header.phoff !== EHDR_SIZE) throw new FormatError('e_phoff', String(EHDR_SIZE), String(header.phoff), at(32));
  const tableEnd = EHDR_SIZE + header.phnum * PHDR_SIZE;
  if (tableEnd > size) {
    throw new FormatError(
      'e_phnum',
      `a program header table inside the ${size}-byte elfcorehdr`,
      `${header.phnum} entries (${tableEnd} bytes)`,
      at(56),
    );
  }
  const table = new Uint8Array(tableEnd);
  readChecked(paddr, table, 'elfcorehdr program headers', at(0));
  const old: ProgramHeader[] = [];
  for (let i = 0; i < header.phnum; i++) old.push(decodeProgramHeader(table, EHDR_SIZE + i * PHDR_SIZE, { file, base: paddr }));
  const fieldAt = (i: number, rel: number) => at(EHDR_SIZE + i * PHDR_SIZE + rel);

  // update_note_header_size_elf64 + copy_notes_elf64: real size of each PT_NOTE, then concatenate.
  const warnings: string[] = [];
  const noteParts: Uint8Array[] = [];
  let notesBytes = 0;
  const maxNote = Math.min(MAX_PT_NOTE_BYTES, Math.max(0, ...old.filter((p) => p.type === PT_NOTE).map((p) => p.memsz)));
  const noteBuf = new Uint8Array(maxNote);
  old.forEach((p, i) => {
    if (p.type !== PT_NOTE) return;
    if (p.memsz > MAX_PT_NOTE_BYTES) {
      throw new FormatError('PT_NOTE p_memsz', `at most ${MAX_PT_NOTE_BYTES} bytes`, `${p.memsz} bytes`, fieldAt(i, 40));
    }
    const segment = noteBuf.subarray(0, p.memsz);
    readChecked(p.offset, segment, 'PT_NOTE segment', fieldAt(i, 8));
    const scan = scanNoteSegment(segment);
    if (scan.dropped) {
      warnings.push(
        `Exceeded p_memsz, dropping PT_NOTE entry n_namesz=${hex(scan.dropped.namesz)}, n_descsz=${hex(scan.dropped.descsz)} (PT_NOTE at ${hex(p.offset)})`,
      );
    }
    if (scan.realBytes === 0) warnings.push(`Zero PT_NOTE entries found (PT_NOTE at ${hex(p.offset)})`);
    notesBytes += scan.realBytes;
    if (notesBytes > MAX_MERGED_NOTES_BYTES) {
      throw new FormatError(
        'merged notes',
        `at most ${MAX_MERGED_NOTES_BYTES} bytes in all`,
        `${notesBytes} bytes by this PT_NOTE`,
        fieldAt(i, 40),
      );
    }
    noteParts.push(segment.slice(0, scan.realBytes));
  });

  // The declared loss travels with the dump: one more note after the kernel's.
  const lost = normaliseLost(opts.lost ?? []);
  if (lost.length) {
    const note = encodeNote(LOST_RANGES_NOTE_NAME, NT_EFIKDUMP_LOST_RANGES, encodeLostRanges(lost));
    noteParts.push(note);
    notesBytes += note.length;
  }
  // Each PT_LOAD less the lost ranges: the pieces that stay, as separate segments.
  const pieces = (p: ProgramHeader): ProgramHeader[] => {
    if (p.type !== PT_LOAD || !lost.length || p.memsz === 0) return [p];
    const kept = subtractRanges([{ start: pageAlignDown(p.offset), end: pageAlignUp(p.offset + p.memsz) }], lost);
    return kept.map((k) => {
      const start = Math.max(k.start, p.offset);
      const end = Math.min(k.end, p.offset + p.memsz);
      const delta = start - p.offset;
      return { ...p, offset: start, paddr: p.paddr + delta, vaddr: p.vaddr + BigInt(delta), filesz: end - start, memsz: end - start };
    });
  };
  const split = old.flatMap((p) => (p.type === PT_LOAD ? pieces(p) : [p]));
  const loadCount = (list: ProgramHeader[]) => list.filter((p) => p.type !== PT_NOTE).length;

  // merge_note_headers_elf64: one PT_NOTE replaces them all; header and notes areas are page rounded.
  const phnum = loadCount(split) + 1;
  const headerBytes = EHDR_SIZE + phnum * PHDR_SIZE;
  const headerArea = pageAlignUp(headerBytes);
  const notesArea = pageAlignUp(notesBytes);
  const notes = new Uint8Array(notesArea);
  let pos = 0;
  for (const part of noteParts) {
    notes.set(part, pos);
    pos += part.length;
  }
  const phdrs: ProgramHeader[] = [
    { type: PT_NOTE, flags: 0, offset: headerArea, vaddr: 0n, paddr: 0, filesz: notesBytes, memsz: notesBytes, align: 0 },
  ];

  // process_ptload_program_headers_elf64: page-rounded old memory, laid end to end after the notes.
  const loads: VmcoreLoad[] = [];
  let off = headerArea + notesArea;
  const indexOf = new Map(old.map((p, i) => [p, i]));
  split.forEach((p) => {
    const i =
      indexOf.get(p) ?? old.findIndex((q) => q.type === PT_LOAD && q.vaddr <= p.vaddr && p.paddr >= q.paddr && p.paddr < q.paddr + q.memsz);
    if (p.type === PT_NOTE) return;
    if (p.type !== PT_LOAD) {
      warnings.push(`program header ${i} of type ${hex(p.type)} is kept as it is`);
      phdrs.push(p);
      return;
    }
    if (p.filesz !== p.memsz) {
      throw new FormatError('PT_LOAD p_filesz', `equal to p_memsz (${p.memsz})`, String(p.filesz), fieldAt(i, 32));
    }
    // In the elfcorehdr p_offset is the physical address to read (domain reference §1.5).
    const start = pageAlignDown(p.offset);
    const end = pageAlignUp(p.offset + p.memsz);
    if (end > start && !opts.isRam(start, end - start)) {
      throw new FormatError('PT_LOAD', 'a segment inside old-memory RAM', `${hex(p.offset)}-${hex(p.offset + p.memsz)}`, fieldAt(i, 8));
    }
    const fileStart = off;
    off += end - start;
    if (!Number.isSafeInteger(off)) throw new FormatError('vmcore size', 'below 2^53 bytes', `more, at this PT_LOAD`, fieldAt(i, 40));
    const fileOffset = fileStart + (p.offset - start);
    loads.push({
      phdrIndex: phdrs.length,
      paddr: p.paddr,
      vaddr: p.vaddr,
      size: p.memsz,
      fileOffset,
      physStart: start,
      fileStart,
      fileEnd: off,
    });
    phdrs.push({ ...p, offset: fileOffset });
  });

  const elfHeader: ElfHeader = { ...header, phnum };
  const headerOut = new Uint8Array(headerArea);
  // The kernel keeps the original ELF header and only rewrites e_phnum.
  headerOut.set(ehdr);
  new DataView(headerOut.buffer).setUint16(56, phnum, true);
  phdrs.forEach((p, i) => headerOut.set(encodeProgramHeader(p), EHDR_SIZE + i * PHDR_SIZE));

  return {
    elfcorehdr: { paddr, size },
    elfHeader,
    phdrs,
    header: headerOut,
    headerBytes,
    notes,
    notesBytes,
    noteList: decodeNotes(notes.subarray(0, notesBytes), { file, base: headerArea }),
    loads,
    fileSize: off,
    warnings,
    lost,
  };
}

/** Sorted, merged, page-aligned lost ranges (a range's reason is kept from the first range merged into it). */
function normaliseLost(ranges: readonly LostRange[]): LostRange[] {
  const sorted = ranges
    .map((r) => ({ start: pageAlignDown(r.start), end: pageAlignUp(r.end), reason: r.reason }))
    .filter((r) => r.end > r.start)
    .sort((a, b) => a.start - b.start);
  const merged = mergeRanges(sorted);
  return merged.map((m) => ({ ...m, reason: sorted.find((r) => r.start >= m.start && r.start < m.end)!.reason }));
}

/**
 * The size of an elfcorehdr whose `elfcorehdr=` parameter gave no size: the kernel then reads
 * 64 + e_phnum × 56 bytes. Capped at MAX_ELFCOREHDR_BYTES so that the parser reports a table
 * that does not fit instead of reading past the cap.
 */
export function elfCoreHeaderExtent(readPhys: OldMemoryReader, paddr: number, isRam: (paddr: number, size: number) => boolean): number {
  if (!Number.isSafeInteger(paddr) || paddr < 0 || !isRam(paddr, EHDR_SIZE)) return EHDR_SIZE;
  const ehdr = new Uint8Array(EHDR_SIZE);
  readPhys(paddr, ehdr);
  const phnum = new DataView(ehdr.buffer).getUint16(56, true);
  return Math.min(MAX_ELFCOREHDR_BYTES, EHDR_SIZE + phnum * PHDR_SIZE);
}
