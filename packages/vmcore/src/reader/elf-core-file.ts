import { closeSync } from 'node:fs';
import {
  decodeElfHeader,
  decodePrStatus,
  decodeProgramHeader,
  EHDR_SIZE,
  EM_X86_64,
  ET_CORE,
  EV_CURRENT,
  FormatError,
  hex,
  IoError,
  MiB,
  NT_PRSTATUS,
  NT_VMCOREINFO,
  parseVmcoreinfo,
  PHDR_SIZE,
  PT_LOAD,
  PT_NOTE,
  decodeAscii,
} from '@efikdump/core/base';
import type { ElfHeader, ElfNote, ProgramHeader } from '@efikdump/core';
import { decodeNotes } from '../elfcorehdr/notes';
import { preferDirectMap } from '../elfcorehdr/x86-64';
import { openForReading, readExactly, readInto, regularFileSize } from './positional-read';

/** Notes of all PT_NOTE segments together may not exceed this (a vmcore's notes are a few KiB per CPU). */
export const MAX_FILE_NOTES_BYTES = 16 * MiB;

/** One CPU's NT_PRSTATUS: registers in core's X86_64_REGS order. */
export interface CpuRegisters {
  /** Position among the NT_PRSTATUS notes (the kernel emits one per CPU, in CPU order). */
  cpu: number;
  pid: number;
  regs: bigint[];
}

/**
 * An ELF64 core file on disk (a dump we wrote, or a saved /proc/vmcore), read with positional
 * reads only: opening reads the headers, `notes()` reads the PT_NOTE segments, `readPhys` reads
 * what it is asked for. Every malformed field is a FormatError naming the file and its offset.
 */
export class ElfCoreFile {
  private fd: number | undefined;
  private cachedNotes: ElfNote[] | undefined;

  private constructor(
    readonly path: string,
    fd: number,
    /** File size in bytes. */
    readonly size: number,
    readonly header: ElfHeader,
    readonly phdrs: readonly ProgramHeader[],
  ) {
    this.fd = fd;
  }

  static open(path: string): ElfCoreFile {
    const fd = openForReading(path);
    try {
      const size = regularFileSize(fd, path);
      if (size < EHDR_SIZE) throw new FormatError('ELF header', `${EHDR_SIZE} bytes`, `a ${size}-byte file`, { file: path, offset: 0 });
      const ehdr = readExactly(fd, path, 0, EHDR_SIZE);
      const header = decodeElfHeader(ehdr, { file: path });
      if (header.type !== ET_CORE) throw new FormatError('e_type', `ET_CORE (${ET_CORE})`, String(header.type), { file: path, offset: 16 });
      if (header.machine !== EM_X86_64)
        throw new FormatError('e_machine', `EM_X86_64 (${EM_X86_64})`, String(header.machine), { file: path, offset: 18 });
      const version = new DataView(ehdr.buffer).getUint32(20, true);
      if (version !== EV_CURRENT) throw new FormatError('e_version', String(EV_CURRENT), String(version), { file: path, offset: 20 });
      const tableBytes = header.phnum * PHDR_SIZE;
      if (header.phoff < EHDR_SIZE || header.phoff + tableBytes > size) {
        throw new FormatError(
          'program header table',
          `${header.phnum} entries at e_phoff inside the ${size}-byte file`,
          `e_phoff ${hex(header.phoff)}`,
          { file: path, offset: 32 },
        );
      }
      const table = readExactly(fd, path, header.phoff, tableBytes);
      const phdrs: ProgramHeader[] = [];
      for (let i = 0; i < header.phnum; i++) phdrs.push(decodeProgramHeader(table, i * PHDR_SIZE, { file: path, base: header.phoff }));
      return new ElfCoreFile(path, fd, size, header, phdrs);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  /** All notes of all PT_NOTE segments, in file order; each note's `offset` is its file offset. */
  notes(): ElfNote[] {
    if (this.cachedNotes) return this.cachedNotes;
    const segments = this.phdrs.map((p, i) => ({ p, i })).filter(({ p }) => p.type === PT_NOTE);
    let total = 0;
    for (const { p, i } of segments) {
      total += p.filesz;
      if (total > MAX_FILE_NOTES_BYTES) {
        throw new FormatError('PT_NOTE segments', `at most ${MAX_FILE_NOTES_BYTES} bytes in all`, `${total} bytes`, this.phdrField(i, 32));
      }
      if (p.offset + p.filesz > this.size) {
        throw new FormatError(
          'PT_NOTE segment',
          `inside the ${this.size}-byte file`,
          `${hex(p.offset)}-${hex(p.offset + p.filesz)}`,
          this.phdrField(i, 8),
        );
      }
    }
    const notes: ElfNote[] = [];
    for (const { p } of segments) {
      if (p.filesz === 0) continue;
      notes.push(...decodeNotes(this.readAt(p.offset, p.filesz), { file: this.path, base: p.offset }));
    }
    return (this.cachedNotes = notes);
  }

  /** The VMCOREINFO note's KEY=VALUE lines, or undefined when the core has none. */
  vmcoreinfo(): Map<string, string> | undefined {
    const note = this.notes().find((n) => n.name === 'VMCOREINFO' && n.type === NT_VMCOREINFO);
    return note ? parseVmcoreinfo(decodeAscii(note.desc)) : undefined;
  }

  /** Registers and pid of every CPU with an NT_PRSTATUS note ("CORE"). */
  prstatus(): CpuRegisters[] {
    return this.notes()
      .filter((n) => n.name === 'CORE' && n.type === NT_PRSTATUS)
      .map((n, cpu) => {
        const { pid, regs } = decodePrStatus(n.desc, { file: this.path, base: n.offset });
        return { cpu, pid, regs };
      });
  }

  /** File offset of physical `paddr` through a PT_LOAD (direct map preferred), or undefined. */
  fileOffsetOf(paddr: number): number | undefined {
    const hit = this.loadOf(paddr);
    return hit ? hit.p.offset + (paddr - hit.p.paddr) : undefined;
  }

  /**
   * Whether the dump holds file bytes for physical `paddr` (through the PT_LOAD `readPhys` uses):
   * `bytes`, `no-bytes` (inside p_memsz past p_filesz: readers see zeros, which is how
   * makedumpfile -E leaves filtered pages out), or `absent` (in no PT_LOAD).
   */
  byteState(paddr: number): 'bytes' | 'no-bytes' | 'absent' {
    if (!Number.isSafeInteger(paddr) || paddr < 0) return 'absent';
    const hit = this.loadOf(paddr);
    if (!hit) return 'absent';
    return paddr - hit.p.paddr < hit.p.filesz ? 'bytes' : 'no-bytes';
  }

  /**
   * Reads physical memory [paddr, paddr + dst.length) from the dump into `dst`. False when some of
   * it is in no PT_LOAD. Bytes between p_filesz and p_memsz read as zeros.
   */
  readPhys(paddr: number, dst: Uint8Array): boolean {
    if (!Number.isSafeInteger(paddr) || paddr < 0) return false;
    let done = 0;
    while (done < dst.length) {
      const addr = paddr + done;
      const hit = this.loadOf(addr);
      if (!hit) return false;
      const { p, i } = hit;
      const rel = addr - p.paddr;
      const n = Math.min(dst.length - done, p.memsz - rel);
      const fromFile = Math.max(0, Math.min(n, p.filesz - rel));
      if (fromFile > 0) {
        const pos = p.offset + rel;
        if (pos + fromFile > this.size) {
          throw new FormatError(
            'PT_LOAD data',
            `inside the ${this.size}-byte file`,
            `${hex(p.offset)}-${hex(p.offset + p.filesz)}`,
            this.phdrField(i, 8),
          );
        }
        readInto(this.openFd(), this.path, pos, dst.subarray(done, done + fromFile));
      }
      dst.fill(0, done + fromFile, done + n);
      done += n;
    }
    return true;
  }

  close(): void {
    if (this.fd !== undefined) {
      closeSync(this.fd);
      this.fd = undefined;
    }
  }

  private loadOf(paddr: number): { p: ProgramHeader; i: number } | undefined {
    const hits = this.phdrs
      .map((p, i) => ({ p, i, vaddr: p.vaddr }))
      .filter(({ p }) => p.type === PT_LOAD && paddr >= p.paddr && paddr < p.paddr + p.memsz);
    return preferDirectMap(hits);
  }

  private phdrField(index: number, rel: number) {
    return { file: this.path, offset: this.header.phoff + index * PHDR_SIZE + rel };
  }

  private readAt(position: number, length: number): Uint8Array {
    return readExactly(this.openFd(), this.path, position, length);
  }

  private openFd(): number {
    if (this.fd === undefined) throw new IoError('file is already closed', { file: this.path });
    return this.fd;
  }
}
