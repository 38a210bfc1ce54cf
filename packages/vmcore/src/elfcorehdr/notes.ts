import { NOTE_HEADER_SIZE, walkNotes } from '@efikdump/core/base';
import type { ElfNote } from '@efikdump/core';

/** 4-byte padding of n_namesz / n_descsz in arithmetic, not bitwise, so u32 sizes above 2^31 stay right. */
const pad4 = (n: number): number => n + ((4 - (n % 4)) % 4);

export interface NoteSegmentScan {
  /** Bytes of whole notes before the end marker (n_namesz == 0) or the end of the buffer. */
  realBytes: number;
  /** The note that did not fit in the segment and was dropped, as the kernel warns. */
  dropped?: { offset: number; namesz: number; descsz: number };
}

/**
 * The real size of a PT_NOTE segment, as Linux fs/proc/vmcore.c `update_note_header_size_elf64`
 * finds it: walk `12 + align4(namesz) + align4(descsz)` until n_namesz == 0; a note that would
 * pass p_memsz ends the walk ("Exceeded p_memsz, dropping PT_NOTE entry"). Never throws.
 */
export function scanNoteSegment(buf: Uint8Array): NoteSegmentScan {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let off = 0;
  // The kernel reads the next header even when fewer than 12 bytes are left; we stop instead.
  while (off + NOTE_HEADER_SIZE <= buf.length) {
    const namesz = v.getUint32(off, true);
    if (namesz === 0) break;
    const descsz = v.getUint32(off + 4, true);
    const size = NOTE_HEADER_SIZE + pad4(namesz) + pad4(descsz);
    if (off + size > buf.length) return { realBytes: off, dropped: { offset: off, namesz, descsz } };
    off += size;
  }
  return { realBytes: off };
}

/**
 * Decodes a note list (Elf64_Nhdr, 4-byte padding as Linux cores use) until the end of `buf` or
 * n_namesz == 0: core's `walkNotes`, with each note's `offset` made `base` plus its offset in `buf`.
 * A note that does not fit is a FormatError at `base + offset`.
 */
export function decodeNotes(buf: Uint8Array, place: { file?: string; base?: number } = {}): ElfNote[] {
  const base = place.base ?? 0;
  return walkNotes(buf, { file: place.file, base }).notes.map((n) => ({ ...n, offset: base + n.offset }));
}
