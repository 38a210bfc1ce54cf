import { closeSync, openSync, readSync } from 'node:fs';
import { ConfigError, hex, readJsonFile } from '@efikdump/core';
import { q35BelowFourGBytes } from '@efikdump/firmware-uefi';
import { PAGE_BYTES } from './pattern';

/** The format of the footprint file a lab run writes (footprint.json). */
export const LAB_FOOTPRINT_FORMAT = 'efikdump-lab-footprint/1';

/** A changed range of guest physical memory (page aligned, end exclusive). */
export interface ChangedRange {
  start: number;
  end: number;
  pages: number;
  /** Of `pages`, how many are all zero afterwards. */
  zeroPages: number;
}

const CHUNK_BYTES = 64 << 20;
const FOUR_GIB = 4 * 1024 ** 3;

/**
 * Pages that differ between two images of guest RAM (the backing file at two moments), as
 * physical ranges: q35 maps file offsets below the low-memory split 1:1 and the rest from 4 GiB.
 */
export function diffRamImages(beforePath: string, afterPath: string, memoryBytes: number): ChangedRange[] {
  const low = q35BelowFourGBytes(memoryBytes);
  const a = openSync(beforePath, 'r');
  const b = openSync(afterPath, 'r');
  const ranges: ChangedRange[] = [];
  const bufA = Buffer.alloc(CHUNK_BYTES);
  const bufB = Buffer.alloc(CHUNK_BYTES);
  const zero = Buffer.alloc(PAGE_BYTES);
  try {
    for (let off = 0; off < memoryBytes; off += CHUNK_BYTES) {
      const len = Math.min(CHUNK_BYTES, memoryBytes - off);
      const na = readSync(a, bufA, 0, len, off);
      const nb = readSync(b, bufB, 0, len, off);
      for (let p = 0; p < len; p += PAGE_BYTES) {
        const pa = p < na ? bufA.subarray(p, p + PAGE_BYTES) : zero;
        const pb = p < nb ? bufB.subarray(p, p + PAGE_BYTES) : zero;
        if (pa.equals(pb)) continue;
        const fileOffset = off + p;
        const paddr = fileOffset < low ? fileOffset : fileOffset - low + FOUR_GIB;
        const isZero = pb.equals(zero) ? 1 : 0;
        const last = ranges.at(-1);
        if (last && last.end === paddr) {
          last.end += PAGE_BYTES;
          last.pages++;
          last.zeroPages += isZero;
        } else ranges.push({ start: paddr, end: paddr + PAGE_BYTES, pages: 1, zeroPages: isZero });
      }
    }
  } finally {
    closeSync(a);
    closeSync(b);
  }
  return ranges;
}

/** Merges ranges whose gap is at most `gapBytes` (for a readable summary; the file keeps the exact ranges). */
export function coalesce(ranges: readonly ChangedRange[], gapBytes: number): ChangedRange[] {
  const out: ChangedRange[] = [];
  for (const r of ranges) {
    const last = out.at(-1);
    if (last && r.start - last.end <= gapBytes) {
      last.end = r.end;
      last.pages += r.pages;
      last.zeroPages += r.zeroPages;
    } else out.push({ ...r });
  }
  return out;
}

/** The footprint file: what POST changed between the reset and the loader's entry, plus timings. */
export interface LabFootprint {
  format: typeof LAB_FOOTPRINT_FORMAT;
  /** Where POST stopped when RAM was read: the loader's first instruction (not the UEFI Shell prompt). */
  moment: 'loader-entry';
  firmware: string;
  memoryBytes: number;
  pages: number;
  /** Exact changed ranges, hex addresses. */
  overwritten: { start: string; end: string; pages: number; zeroPages: number }[];
  /** The same, with gaps up to 64 KiB merged. */
  summary: { start: string; end: string; pages: number }[];
  timings: { resetToLoaderMs?: number; bootToLoaderMs?: number };
}

export function footprintDocument(
  ranges: readonly ChangedRange[],
  memoryBytes: number,
  firmware: string,
  timings: LabFootprint['timings'],
): LabFootprint {
  return {
    format: LAB_FOOTPRINT_FORMAT,
    moment: 'loader-entry',
    firmware,
    memoryBytes,
    pages: ranges.reduce((n, r) => n + r.pages, 0),
    overwritten: ranges.map((r) => ({ start: hex(r.start), end: hex(r.end), pages: r.pages, zeroPages: r.zeroPages })),
    summary: coalesce(ranges, 64 << 10).map((r) => ({ start: hex(r.start), end: hex(r.end), pages: r.pages })),
    timings,
  };
}

/** Reads a footprint file a lab run wrote; throws ConfigError naming the field that is wrong. */
export function readFootprint(path: string): LabFootprint {
  const doc = readJsonFile(path) as Partial<LabFootprint>;
  if (doc?.format !== LAB_FOOTPRINT_FORMAT) throw new ConfigError(`expected "${LAB_FOOTPRINT_FORMAT}"`, { file: path, field: 'format' });
  if (!Number.isSafeInteger(doc.memoryBytes)) throw new ConfigError('expected a byte count', { file: path, field: 'memoryBytes' });
  if (!Array.isArray(doc.overwritten)) throw new ConfigError('expected an array', { file: path, field: 'overwritten' });
  doc.overwritten.forEach((r, i) => {
    if (!/^0x[0-9a-f]+$/i.test(String(r?.start)) || !/^0x[0-9a-f]+$/i.test(String(r?.end)) || Number(r.end) <= Number(r.start)) {
      throw new ConfigError('expected {start, end} hex addresses with end > start', { file: path, field: `overwritten[${i}]` });
    }
  });
  return doc as LabFootprint;
}

const PREDICTION_GAP_BYTES = 1 << 20;
const PREDICTION_ALIGN_BYTES = 64 << 10;

/**
 * The ranges the loader declares lost from a measured footprint (\efikdump\footprint.txt): the
 * changed ranges with gaps up to 1 MiB merged and widened to 64 KiB boundaries, because one run's
 * exact pages vary a little (a page the firmware rewrote with the bytes it held is not seen).
 */
export function footprintPrediction(doc: LabFootprint): string {
  const exact = doc.overwritten.map((r) => ({ start: Number(r.start), end: Number(r.end), pages: r.pages, zeroPages: r.zeroPages }));
  return coalesce(exact, PREDICTION_GAP_BYTES)
    .map((r) => {
      const start = Math.floor(r.start / PREDICTION_ALIGN_BYTES) * PREDICTION_ALIGN_BYTES;
      const end = Math.ceil(r.end / PREDICTION_ALIGN_BYTES) * PREDICTION_ALIGN_BYTES;
      return `${hex(start)} ${hex(end)}\n`;
    })
    .join('');
}
