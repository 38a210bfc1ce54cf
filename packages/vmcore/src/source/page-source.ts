import type { Utsname } from '../writers/kdump-compressed/diskdump.codec';

/** [start, end) in frame numbers. */
export interface PfnRange {
  start: number;
  end: number;
}

/**
 * Physical memory of a crashed machine as a dump writer consumes it, frame by frame, whatever
 * holds it: an ELF vmcore file, the simulator's /proc/vmcore, or a kdump-compressed file being
 * re-filtered. Bitmaps are asked for in windows, so nothing is sized by the machine's RAM.
 */
export interface PageSource {
  /** File name (or "/proc/vmcore") for messages. */
  readonly name: string;
  readonly pageSize: number;
  /** Frames 0 .. maxMapnr-1 are described (bitmaps cover them). */
  readonly maxMapnr: number;
  /** Bits [startPfn, startPfn + 8 * dst.length) of "frame is RAM" (bitmap 1); startPfn % 8 == 0. */
  ramBitmap(startPfn: number, dst: Uint8Array): void;
  /** Bits of "frame is in the input": bitmap 2 of a kdump-compressed input, the RAM bitmap otherwise. */
  presentBitmap(startPfn: number, dst: Uint8Array): void;
  /** Reads `count` frames from `pfn` (each present in the input) into `dst`. */
  readFrames(pfn: number, count: number, dst: Uint8Array): void;
  /** Physical bytes; false when some are not in the input. */
  readPhys(paddr: number, dst: Uint8Array): boolean;
  /** Physical address of a kernel virtual address through the input's own mappings, if it has one. */
  kernelVirtToPhys(vaddr: bigint): number | undefined;
  /** The ELF notes as makedumpfile copies them into a kdump sub header (/proc/vmcore's PT_NOTE). */
  readonly notes: Uint8Array;
  /** Where the VMCOREINFO text is inside `notes`, if there is one. */
  readonly vmcoreinfoText?: { offset: number; size: number };
  readonly vmcoreinfo?: Map<string, string>;
  readonly nrCpus: number;
  readonly utsname: Utsname;
  readonly physBase: bigint;
  /** CRASHTIME (Unix seconds) or 0. */
  readonly timestampSec: number;
  /** Dump level the input was already filtered with (0 for ELF). */
  readonly inputDumpLevel: number;
}

/** Parses a VMCOREINFO number: decimal, bare hex (SYMBOL values) or 0x-hex, as readers must accept. */
export function vmcoreinfoNumber(info: Map<string, string> | undefined, key: string, hexDefault = false): bigint | undefined {
  const raw = info?.get(key)?.trim();
  if (!raw) return undefined;
  try {
    if (/^-?0x[0-9a-f]+$/i.test(raw)) return raw.startsWith('-') ? -BigInt(raw.slice(1)) : BigInt(raw);
    if (hexDefault && /^[0-9a-f]+$/i.test(raw)) return BigInt('0x' + raw);
    if (/^-?\d+$/.test(raw)) return BigInt(raw);
    if (/^[0-9a-f]+$/i.test(raw)) return BigInt('0x' + raw);
  } catch {
    return undefined;
  }
  return undefined;
}

/** Sets bits [from, to) of the window starting at `startPfn` in `dst`. */
export function setBitRange(dst: Uint8Array, startPfn: number, from: number, to: number): void {
  const lo = Math.max(from, startPfn) - startPfn;
  const hi = Math.min(to, startPfn + dst.length * 8) - startPfn;
  let i = lo;
  while (i < hi && i & 7) {
    dst[i >> 3] |= 1 << (i & 7);
    i++;
  }
  const fullEnd = hi & ~7;
  if (i < fullEnd) {
    dst.fill(0xff, i >> 3, fullEnd >> 3);
    i = fullEnd;
  }
  while (i < hi) {
    dst[i >> 3] |= 1 << (i & 7);
    i++;
  }
}
