import { closeSync, readSync } from 'node:fs';
import { decodeLostRanges, FormatError, LOST_RANGES_NOTE_NAME, NT_EFIKDUMP_LOST_RANGES } from '@efikdump/core/base';
import type { LostRange } from '@efikdump/core';
import { ElfCoreFile } from './elf-core-file';
import { KdumpCompressedFile } from './kdump-compressed-file';
import { openForReading } from './positional-read';

/** A dump on disk in either format efikdump reads. */
export type DumpFile = ElfCoreFile | KdumpCompressedFile;

/** The format of the file at `path`, from its first bytes (ELF unless it has a kdump signature). */
export function detectDumpFormat(path: string): 'elf' | 'kdump-compressed' {
  const fd = openForReading(path);
  try {
    const head = Buffer.alloc(8);
    const n = readSync(fd, head, 0, 8, 0);
    if (n >= 4 && head[0] === 0x7f && head.subarray(1, 4).toString('latin1') === 'ELF') return 'elf';
    const sig = head.subarray(0, n).toString('latin1');
    if (sig === 'KDUMP   ' || sig === 'DISKDUMP') return 'kdump-compressed';
    if (sig.startsWith('makedump')) {
      throw new FormatError(
        'dump format',
        'an ELF core or a kdump-compressed file',
        "makedumpfile's flattened format (rebuild it with makedumpfile -R first)",
        { file: path, offset: 0 },
      );
    }
    // Anything else is read as ELF, whose reader names what it expected at which offset.
    return 'elf';
  } finally {
    closeSync(fd);
  }
}

/** Opens an ELF vmcore or a kdump-compressed dump, whichever `path` holds. */
export function openDumpFile(path: string): DumpFile {
  return detectDumpFormat(path) === 'elf' ? ElfCoreFile.open(path) : KdumpCompressedFile.open(path);
}

/** The ranges a dump declares lost in its EFIKDUMP/LOST note (none without the note). */
export function declaredLostOf(dump: DumpFile): LostRange[] {
  const note = dump.notes().find((n) => n.name === LOST_RANGES_NOTE_NAME && n.type === NT_EFIKDUMP_LOST_RANGES);
  return note ? decodeLostRanges(note.desc, { file: dump.path, base: note.offset }) : [];
}
