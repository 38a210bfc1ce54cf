import { FormatError } from '../errors';
import type { Place } from './elf';

/**
 * The lost-ranges note: how a dump *declares* the old memory it could not save (pages the firmware
 * overwrote across the reset, or that were otherwise lost), so a reader can tell a declared loss
 * from silent corruption. Carried as an ELF note in the dump's PT_NOTE (and in the notes of a
 * kdump-compressed file); the listed pages are in no PT_LOAD (ELF) and cleared in the dumpable
 * bitmap (kdump-compressed).
 *
 * Layout (little-endian), note name "EFIKDUMP", type NT_EFIKDUMP_LOST_RANGES ("LOST"):
 *   u32 version (1) | u32 count | then count entries of 24 bytes:
 *   u64 start paddr (page aligned) | u64 end paddr (exclusive, page aligned) | u32 reason | u32 reserved (0)
 * Entries are sorted by start and do not overlap.
 */
export const LOST_RANGES_NOTE_NAME = 'EFIKDUMP';
export const NT_EFIKDUMP_LOST_RANGES = 0x5453_4f4c; // "LOST" read as a little-endian u32
export const LOST_RANGES_VERSION = 1;
export const LOST_RANGES_HEADER_BYTES = 8;
export const LOST_RANGE_ENTRY_BYTES = 24;

/** Why a range is declared lost. */
export const LOST_REASONS = {
  /** The firmware may have written it between the reset and the capture (its footprint, or a profile's prediction). */
  'firmware-footprint': 1,
  /** The range was seen to differ from what the crashed kernel left (for example a checksum the handoff carried). */
  'observed-changed': 2,
  /** A device may have written it by DMA after the crash. */
  dma: 3,
  /** Anything else the writer knows it could not read. */
  unreadable: 4,
} as const;
export type LostReason = keyof typeof LOST_REASONS;

export interface LostRange {
  /** Physical start, page aligned. */
  start: number;
  /** Physical end, exclusive, page aligned. */
  end: number;
  reason: LostReason;
}

const REASON_BY_CODE = new Map<number, LostReason>(Object.entries(LOST_REASONS).map(([name, code]) => [code, name as LostReason]));

const PAGE = 4096;

/** The note's descriptor bytes for `ranges` (sorted, non-overlapping, page aligned; checked). */
export function encodeLostRanges(ranges: readonly LostRange[]): Uint8Array {
  const out = new Uint8Array(LOST_RANGES_HEADER_BYTES + ranges.length * LOST_RANGE_ENTRY_BYTES);
  const v = new DataView(out.buffer);
  v.setUint32(0, LOST_RANGES_VERSION, true);
  v.setUint32(4, ranges.length, true);
  let prevEnd = -1;
  ranges.forEach((r, i) => {
    if (r.start % PAGE || r.end % PAGE || r.end <= r.start || r.start < prevEnd) {
      throw new RangeError(
        `lost range ${i} [0x${r.start.toString(16)}, 0x${r.end.toString(16)}) is not page aligned, empty, or out of order`,
      );
    }
    prevEnd = r.end;
    const o = LOST_RANGES_HEADER_BYTES + i * LOST_RANGE_ENTRY_BYTES;
    v.setBigUint64(o, BigInt(r.start), true);
    v.setBigUint64(o + 8, BigInt(r.end), true);
    v.setUint32(o + 16, LOST_REASONS[r.reason], true);
    v.setUint32(o + 20, 0, true);
  });
  return out;
}

/** Decodes a lost-ranges descriptor; every count and field is checked against the buffer first. */
export function decodeLostRanges(desc: Uint8Array, place: Place = {}): LostRange[] {
  const where = (off: number) => ({ file: place.file, offset: (place.base ?? 0) + off });
  if (desc.length < LOST_RANGES_HEADER_BYTES) {
    throw new FormatError('lost-ranges note', `at least ${LOST_RANGES_HEADER_BYTES} bytes`, `${desc.length}`, where(0));
  }
  const v = new DataView(desc.buffer, desc.byteOffset, desc.byteLength);
  const version = v.getUint32(0, true);
  if (version !== LOST_RANGES_VERSION) {
    throw new FormatError('lost-ranges note version', `${LOST_RANGES_VERSION}`, `${version}`, where(0));
  }
  const count = v.getUint32(4, true);
  const need = LOST_RANGES_HEADER_BYTES + count * LOST_RANGE_ENTRY_BYTES;
  if (need !== desc.length) {
    throw new FormatError('lost-ranges note', `${need} bytes for ${count} entries`, `${desc.length}`, where(4));
  }
  const ranges: LostRange[] = [];
  let prevEnd = -1;
  for (let i = 0; i < count; i++) {
    const o = LOST_RANGES_HEADER_BYTES + i * LOST_RANGE_ENTRY_BYTES;
    const start = v.getBigUint64(o, true);
    const end = v.getBigUint64(o + 8, true);
    const code = v.getUint32(o + 16, true);
    const reason = REASON_BY_CODE.get(code);
    if (start > BigInt(Number.MAX_SAFE_INTEGER) || end > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new FormatError(`lost range ${i}`, 'addresses below 2^53', `0x${end.toString(16)}`, where(o));
    }
    const s = Number(start);
    const e = Number(end);
    if (s % PAGE || e % PAGE || e <= s || s < prevEnd) {
      throw new FormatError(
        `lost range ${i}`,
        'a page-aligned, non-empty range after the previous one',
        `[0x${s.toString(16)}, 0x${e.toString(16)})`,
        where(o),
      );
    }
    if (!reason)
      throw new FormatError(`lost range ${i} reason`, `one of ${[...REASON_BY_CODE.keys()].join(', ')}`, `${code}`, where(o + 16));
    prevEnd = e;
    ranges.push({ start: s, end: e, reason });
  }
  return ranges;
}

/** Number of 4 KiB pages the ranges cover. */
export function lostPageCount(ranges: readonly LostRange[]): number {
  return ranges.reduce((n, r) => n + (r.end - r.start) / PAGE, 0);
}
