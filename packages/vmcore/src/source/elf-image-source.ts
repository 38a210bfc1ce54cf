import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import {
  decodeAscii,
  decodeElfHeader,
  decodeProgramHeader,
  EHDR_SIZE,
  EM_X86_64,
  ET_CORE,
  FormatError,
  hex,
  IoError,
  NT_PRSTATUS,
  NT_VMCOREINFO,
  parseVmcoreinfo,
  PHDR_SIZE,
  PT_LOAD,
  PT_NOTE,
  decodeLostRanges,
  LOST_RANGES_NOTE_NAME,
  mergeRanges,
  NT_EFIKDUMP_LOST_RANGES,
} from '@efikdump/core/base';
import type { ElfHeader, ProgramHeader, LostRange } from '@efikdump/core';
import { decodeNotes } from '../elfcorehdr/notes';
import { isKernelTextMapping } from '../elfcorehdr/x86-64';
import { MAX_FILE_NOTES_BYTES } from '../reader/elf-core-file';
import { emptyUtsname, UTSNAME_FIELD_BYTES, UTSNAME_FIELDS, type Utsname } from '../writers/kdump-compressed/diskdump.codec';
import { setBitRange, vmcoreinfoNumber, type PageSource, type PfnRange } from './page-source';

/** Bytes read by offset: a file, or the simulator's /proc/vmcore. */
export interface PositionalReader {
  readonly name: string;
  readonly size: number;
  read(offset: number, dst: Uint8Array): void;
  close?(): void;
}

/** A file read with positional reads; short reads and I/O errors name the file and offset. */
export class FileReader implements PositionalReader {
  readonly size: number;
  private fd: number | undefined;

  constructor(readonly name: string) {
    try {
      this.fd = openSync(name, 'r');
    } catch (e) {
      throw new IoError(`cannot open: ${(e as Error).message}`, { file: name });
    }
    const stat = fstatSync(this.fd);
    if (!stat.isFile()) {
      this.close();
      throw new IoError('not a regular file', { file: name });
    }
    this.size = stat.size;
  }

  read(offset: number, dst: Uint8Array): void {
    if (this.fd === undefined) throw new IoError('file is already closed', { file: this.name });
    let done = 0;
    while (done < dst.length) {
      let n: number;
      try {
        n = readSync(this.fd, dst, done, dst.length - done, offset + done);
      } catch (e) {
        throw new IoError(`read of ${dst.length} bytes failed: ${(e as Error).message}`, { file: this.name, offset });
      }
      if (n === 0)
        throw new FormatError('file', `${dst.length} bytes at this offset`, `the end of the file after ${done}`, {
          file: this.name,
          offset,
        });
      done += n;
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** A piece of physical memory held by one PT_LOAD: file-backed (fileOffset >= 0) or zero-filled (p_memsz beyond p_filesz). */
interface PhysPiece {
  start: number;
  end: number;
  /** File offset of `start`, or -1 for bytes that read as zeros. */
  fileOffset: number;
}

/** The PT_LOADs of an ELF vmcore as makedumpfile reads them: physical address, file range, virtual address. */
export interface ElfLoad extends ProgramHeader {
  index: number;
}

/**
 * An ELF64 vmcore (ours, a saved /proc/vmcore, or the simulator's view of it) as a PageSource. The
 * direct map is preferred where the kernel-text PT_LOAD duplicates RAM; every segment is checked
 * against the image size before it is read.
 */
export class ElfImageSource implements PageSource {
  readonly pageSize = 4096;
  readonly maxMapnr: number;
  readonly header: ElfHeader;
  readonly loads: readonly ElfLoad[];
  readonly notes: Uint8Array;
  readonly vmcoreinfoText?: { offset: number; size: number };
  readonly vmcoreinfo?: Map<string, string>;
  readonly nrCpus: number;
  readonly utsname: Utsname;
  readonly physBase: bigint;
  readonly timestampSec: number;
  readonly inputDumpLevel = 0;
  /** Physical memory pieces in address order, disjoint. */
  private readonly pieces: PhysPiece[];
  /** Frames holding at least one byte of a piece, merged. */
  readonly frames: readonly PfnRange[];
  /** What the dump's lost-ranges note declares (EFIKDUMP/LOST): RAM that is not in the dump. */
  readonly lost: readonly LostRange[];
  /** RAM frames: `frames` and the declared lost frames, merged. */
  private readonly ramFrames: readonly PfnRange[];

  constructor(readonly reader: PositionalReader) {
    const file = reader.name;
    const at = (offset: number) => ({ file, offset });
    if (reader.size < EHDR_SIZE) throw new FormatError('ELF header', `${EHDR_SIZE} bytes`, `a ${reader.size}-byte file`, at(0));
    const ehdr = new Uint8Array(EHDR_SIZE);
    reader.read(0, ehdr);
    this.header = decodeElfHeader(ehdr, { file });
    if (this.header.type !== ET_CORE) throw new FormatError('e_type', `ET_CORE (${ET_CORE})`, String(this.header.type), at(16));
    if (this.header.machine !== EM_X86_64)
      throw new FormatError('e_machine', `EM_X86_64 (${EM_X86_64})`, String(this.header.machine), at(18));
    const tableBytes = this.header.phnum * PHDR_SIZE;
    if (this.header.phoff < EHDR_SIZE || this.header.phoff + tableBytes > reader.size) {
      throw new FormatError(
        'program header table',
        `${this.header.phnum} entries inside the ${reader.size}-byte file`,
        `e_phoff ${hex(this.header.phoff)}`,
        at(32),
      );
    }
    const table = new Uint8Array(tableBytes);
    reader.read(this.header.phoff, table);
    const phdrs = Array.from({ length: this.header.phnum }, (_, i) => ({
      ...decodeProgramHeader(table, i * PHDR_SIZE, { file, base: this.header.phoff }),
      index: i,
    }));
    const field = (i: number, rel: number) => at(this.header.phoff + i * PHDR_SIZE + rel);
    let noteBytes = 0;
    for (const p of phdrs) {
      if (p.type !== PT_LOAD && p.type !== PT_NOTE) continue;
      if (p.offset + p.filesz > reader.size) {
        throw new FormatError(
          p.type === PT_LOAD ? 'PT_LOAD segment' : 'PT_NOTE segment',
          `inside the ${reader.size}-byte file`,
          `${hex(p.offset)}-${hex(p.offset + p.filesz)}`,
          field(p.index, 8),
        );
      }
      if (p.type === PT_LOAD && (p.filesz > p.memsz || !Number.isSafeInteger(p.paddr + p.memsz))) {
        throw new FormatError(
          'PT_LOAD sizes',
          'p_filesz <= p_memsz and an end below 2^53',
          `filesz ${p.filesz}, memsz ${p.memsz}`,
          field(p.index, 32),
        );
      }
      if (p.type === PT_NOTE && (noteBytes += p.filesz) > MAX_FILE_NOTES_BYTES) {
        throw new FormatError('PT_NOTE segments', `at most ${MAX_FILE_NOTES_BYTES} bytes in all`, `${noteBytes} bytes`, field(p.index, 32));
      }
    }
    this.loads = phdrs.filter((p) => p.type === PT_LOAD);
    this.notes = new Uint8Array(noteBytes);
    let pos = 0;
    for (const p of phdrs.filter((q) => q.type === PT_NOTE)) {
      reader.read(p.offset, this.notes.subarray(pos, pos + p.filesz));
      pos += p.filesz;
    }
    const firstNote = phdrs.find((q) => q.type === PT_NOTE);
    const notes = decodeNotes(this.notes, { file, base: firstNote?.offset ?? 0 });
    const info = notes.find((n) => n.name === 'VMCOREINFO' && n.type === NT_VMCOREINFO);
    if (info) {
      this.vmcoreinfoText = { offset: info.desc.byteOffset - this.notes.byteOffset, size: info.desc.length };
      this.vmcoreinfo = parseVmcoreinfo(decodeAscii(info.desc));
    }
    this.nrCpus = notes.filter((n) => n.name === 'CORE' && n.type === NT_PRSTATUS).length;
    this.physBase = vmcoreinfoNumber(this.vmcoreinfo, 'NUMBER(phys_base)') ?? 0n;
    this.timestampSec = Number(vmcoreinfoNumber(this.vmcoreinfo, 'CRASHTIME') ?? 0n);

    this.pieces = physPieces(this.loads);
    const ps = this.pageSize;
    const frames: PfnRange[] = [];
    for (const piece of this.pieces) {
      const r = { start: Math.floor(piece.start / ps), end: Math.ceil(piece.end / ps) };
      const last = frames[frames.length - 1];
      if (last && r.start <= last.end) last.end = Math.max(last.end, r.end);
      else frames.push(r);
    }
    this.frames = frames;
    const lostNote = notes.find((n) => n.name === LOST_RANGES_NOTE_NAME && n.type === NT_EFIKDUMP_LOST_RANGES);
    this.lost = lostNote ? decodeLostRanges(lostNote.desc, { file, base: lostNote.offset }) : [];
    const ram = mergeRanges([...frames, ...this.lost.map((r) => ({ start: Math.floor(r.start / ps), end: Math.ceil(r.end / ps) }))]);
    this.ramFrames = ram;
    this.maxMapnr = ram.length ? ram[ram.length - 1].end : 0;
    this.utsname = this.readUtsname();
  }

  get name(): string {
    return this.reader.name;
  }

  /** Opens an ELF vmcore file. */
  static open(path: string): ElfImageSource {
    const reader = new FileReader(path);
    try {
      return new ElfImageSource(reader);
    } catch (e) {
      reader.close();
      throw e;
    }
  }

  /** Frames that are RAM: in a PT_LOAD, or declared lost (RAM the dump could not save: bitmap 1 set, bitmap 2 clear). */
  ramBitmap(startPfn: number, dst: Uint8Array): void {
    fillBitmap(this.ramFrames, startPfn, dst);
  }

  /** Frames the dump holds: in a PT_LOAD. */
  presentBitmap(startPfn: number, dst: Uint8Array): void {
    fillBitmap(this.frames, startPfn, dst);
  }

  readFrames(pfn: number, count: number, dst: Uint8Array): void {
    this.readPhysRaw(pfn * this.pageSize, dst.subarray(0, count * this.pageSize));
  }

  readPhys(paddr: number, dst: Uint8Array): boolean {
    if (!Number.isSafeInteger(paddr) || paddr < 0) return false;
    // Every byte must be in some piece.
    let addr = paddr;
    const end = paddr + dst.length;
    let i = this.pieceAtOrAfter(addr);
    while (addr < end) {
      const p = this.pieces[i];
      if (!p || p.start > addr) return false;
      addr = p.end;
      i++;
    }
    this.readPhysRaw(paddr, dst);
    return true;
  }

  kernelVirtToPhys(vaddr: bigint): number | undefined {
    for (const l of this.loads) {
      if (vaddr >= l.vaddr && vaddr < l.vaddr + BigInt(l.memsz)) return l.paddr + Number(vaddr - l.vaddr);
    }
    return undefined;
  }

  close(): void {
    this.reader.close?.();
  }

  /** Physical bytes into `dst`; bytes in no piece read as zeros (a frame's part outside its PT_LOAD). */
  private readPhysRaw(paddr: number, dst: Uint8Array): void {
    const end = paddr + dst.length;
    let addr = paddr;
    let i = this.pieceAtOrAfter(addr);
    while (addr < end) {
      const p = this.pieces[i];
      if (!p || p.start >= end) {
        dst.fill(0, addr - paddr);
        return;
      }
      if (p.start > addr) {
        dst.fill(0, addr - paddr, p.start - paddr);
        addr = p.start;
      }
      const n = Math.min(end, p.end) - addr;
      const out = dst.subarray(addr - paddr, addr - paddr + n);
      if (p.fileOffset < 0) out.fill(0);
      else this.reader.read(p.fileOffset + (addr - p.start), out);
      addr += n;
      i++;
    }
  }

  /** Index of the first piece whose end is above `addr`. */
  private pieceAtOrAfter(addr: number): number {
    let lo = 0;
    let hi = this.pieces.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.pieces[mid].end <= addr) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * init_uts_ns's new_utsname as makedumpfile reads it for the kdump header; when it cannot be
   * read or disagrees with OSRELEASE, only what VMCOREINFO and the ELF header say is filled in.
   */
  private readUtsname(): Utsname {
    const fallback = { ...emptyUtsname(), sysname: 'Linux', release: this.vmcoreinfo?.get('OSRELEASE') ?? '', machine: 'x86_64' };
    const sym = vmcoreinfoNumber(this.vmcoreinfo, 'SYMBOL(init_uts_ns)', true);
    if (sym === undefined) return fallback;
    const off = vmcoreinfoNumber(this.vmcoreinfo, 'OFFSET(uts_namespace.name)') ?? 0n;
    const paddr = this.kernelVirtToPhys(sym + off);
    const buf = new Uint8Array(UTSNAME_FIELDS.length * UTSNAME_FIELD_BYTES);
    if (paddr === undefined || !this.readPhys(paddr, buf)) return fallback;
    const uts = emptyUtsname();
    UTSNAME_FIELDS.forEach((f, i) => (uts[f] = decodeAscii(buf.subarray(i * UTSNAME_FIELD_BYTES, (i + 1) * UTSNAME_FIELD_BYTES))));
    return uts.release === fallback.release ? uts : fallback;
  }
}

/** Splits PT_LOADs into disjoint physical pieces, the direct map first where the kernel-text mapping duplicates it. */
function physPieces(loads: readonly ElfLoad[]): PhysPiece[] {
  const piecesOf = (ls: readonly ElfLoad[]): PhysPiece[] => {
    const out: PhysPiece[] = [];
    for (const l of ls) {
      if (l.filesz > 0) out.push({ start: l.paddr, end: l.paddr + l.filesz, fileOffset: l.offset });
      if (l.memsz > l.filesz) out.push({ start: l.paddr + l.filesz, end: l.paddr + l.memsz, fileOffset: -1 });
    }
    return disjoint(out.sort((a, b) => a.start - b.start));
  };
  const direct = piecesOf(loads.filter((l) => !isKernelTextMapping(l.vaddr)));
  const text = piecesOf(loads.filter((l) => isKernelTextMapping(l.vaddr)));
  // Kernel-text pieces only where no direct-map piece is: a two-pointer sweep, O(n log n) in all.
  const extra: PhysPiece[] = [];
  let j = 0;
  for (const t of text) {
    let cur: PhysPiece | undefined = t;
    while (j < direct.length && direct[j].end <= cur.start) j++;
    for (let k = j; cur && k < direct.length && direct[k].start < cur.end; k++) {
      const d = direct[k];
      if (d.start > cur.start) extra.push(clip(cur, cur.start, d.start));
      cur = d.end < cur.end ? clip(cur, d.end, cur.end) : undefined;
    }
    if (cur) extra.push(cur);
  }
  return [...direct, ...extra].sort((a, b) => a.start - b.start);
}

const clip = (p: PhysPiece, start: number, end: number): PhysPiece => ({
  start,
  end,
  fileOffset: p.fileOffset < 0 ? -1 : p.fileOffset + (start - p.start),
});

/** Sorted pieces made disjoint: where two overlap, the earlier-starting one keeps the bytes. */
function disjoint(sorted: PhysPiece[]): PhysPiece[] {
  const out: PhysPiece[] = [];
  let end = -1;
  for (const p of sorted) {
    if (p.end <= end) continue;
    out.push(p.start < end ? clip(p, end, p.end) : p);
    end = p.end;
  }
  return out;
}

/** Sets the bits of `frames` (sorted, disjoint) in the window of `dst` starting at `startPfn`. */
function fillBitmap(frames: readonly PfnRange[], startPfn: number, dst: Uint8Array): void {
  dst.fill(0);
  const end = startPfn + dst.length * 8;
  let lo = 0;
  let hi = frames.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (frames[mid].end <= startPfn) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo; i < frames.length && frames[i].start < end; i++) setBitRange(dst, startPfn, frames[i].start, frames[i].end);
}
