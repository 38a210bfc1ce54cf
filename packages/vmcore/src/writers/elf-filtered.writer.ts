import {
  AtomicFile,
  ConfigError,
  EHDR_SIZE,
  encodeElfHeader,
  encodeProgramHeader,
  MiB,
  PHDR_SIZE,
  PN_XNUM,
  PT_LOAD,
  PT_NOTE,
} from '@efikdump/core/base';
import type { ProgramHeader } from '@efikdump/core';
import { DL_EXCLUDE_ZERO, EXCLUDED_NAMES, needsClassification, type PageClassifier } from '../dump-level/dump-level';
import type { ElfImageSource, ElfLoad } from '../source/elf-image-source';
import { BackgroundWriter } from './background-writer';
import { isZeroRange } from './page-content';

/** makedumpfile PFN_EXCLUDED: a run of at least this many excluded pages ends a PT_LOAD. */
export const PFN_EXCLUDED = 256;
/** Frames classified at once. */
const WINDOW = 64 * 1024;

export interface ElfFilterOptions {
  dumpLevel: number;
  /** A fresh classifier for each input PT_LOAD (they are walked one after another). Required above level 1. */
  classifier?: () => PageClassifier;
  onProgress?: (p: { done: number; total: number }) => void;
}

export interface ElfFilterResult {
  path: string;
  bytes: number;
  /** Bytes of PT_LOAD data written (all-zero pages are holes and not counted). */
  dataBytes: number;
  loads: number;
  /** Pages left out of the file (in runs of 256 or more), per reason; `zero` for all-zero pages. */
  excluded: Record<string, number>;
}

interface OutSegment {
  load: ElfLoad;
  paddr: number;
  vaddr: bigint;
  memsz: number;
  filesz: number;
  /** Output file offset of the segment's first byte. */
  offset: number;
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Frames read and decided at once inside a PT_LOAD (1 MiB). */
const CHUNK_PAGES = 256;

/**
 * An ELF vmcore without the pages a dump level excludes, as `makedumpfile -E -d N` writes it
 * (makedumpfile.c get_loads_dumpfile_cyclic, write_elf_pages_cyclic): one PT_NOTE with the input's
 * notes; each input PT_LOAD split where 256 or more consecutive pages are excluded, the excluded
 * tail of a segment counted in p_memsz but not in p_filesz (readers see zeros there); shorter
 * excluded runs stay in the file. The ELF header is the input's (e_flags included: an incomplete
 * input stays marked incomplete; a dump we complete is never marked).
 *
 * One pass over the input: makedumpfile first counts the segments (a pass that reads every page at
 * -d 1) to place the data after the program headers; we reserve room for as many program headers
 * as the input can need (each split needs 257 pages), put the notes after that room and write the
 * data as it is decided, on a writer thread while the next chunk is read. The unused room is a
 * hole, as are all-zero pages.
 */
export async function writeFilteredElf(source: ElfImageSource, path: string, options: ElfFilterOptions): Promise<ElfFilterResult> {
  const level = options.dumpLevel;
  if (needsClassification(level) && !options.classifier) {
    throw new ConfigError(`dump level ${level} needs a page classifier`, { field: '--dump-level' });
  }
  const ps = source.pageSize;
  const reader = source.reader;
  const excluded: Record<string, number> = Object.fromEntries(EXCLUDED_NAMES.slice(1).map((n) => [n, 0]));
  excluded.zero = 0;
  const totalBytes = source.loads.reduce((s, l) => s + l.memsz, 0);
  let progressDone = 0;
  let lastReport = 0;
  const report = (force = false) => {
    if (options.onProgress && (force || progressDone - lastReport >= 64 * MiB)) {
      lastReport = progressDone;
      options.onProgress({ done: progressDone, total: totalBytes });
    }
  };
  const zero = Buffer.alloc(ps);
  const file = new AtomicFile(path);
  // All-zero pages are left as holes; the rest goes out through a writer thread while we read on.
  let out: BackgroundWriter | undefined;
  try {
    out = new BackgroundWriter(file.tempPath);
    const writer = out;
    const write = (bytes: Uint8Array, position: number, isZero: boolean) => {
      if (!isZero) writer.append(bytes, position);
    };
    const segments: OutSegment[] = [];
    const reasons = new Uint8Array(WINDOW);
    const chunk = Buffer.alloc(CHUNK_PAGES * ps);
    // Excluded pages not yet known to be dropped (a run shorter than PFN_EXCLUDED stays in the
    // file); all-zero ones are only marked, they would be holes.
    const stash = new Uint8Array(PFN_EXCLUDED * ps);
    const stashZero = new Uint8Array(PFN_EXCLUDED);
    const maxSegments = source.loads.reduce((n, l) => n + 1 + Math.floor(Math.ceil(l.memsz / ps) / (PFN_EXCLUDED + 1)), 0);
    const reservedPhdrs = Math.min(PN_XNUM - 1, 1 + maxSegments);
    const notes = source.notes;
    const noteOffset = EHDR_SIZE + reservedPhdrs * PHDR_SIZE;
    let outPos = Math.ceil((noteOffset + notes.length) / ps) * ps;
    for (const load of source.loads) {
      const classifier = options.classifier?.();
      let pfnStart = Math.floor(load.paddr / ps);
      let pfnEnd = Math.floor((load.paddr + load.memsz) / ps);
      const fracHead = ps - (load.paddr % ps);
      const fracTail = (load.paddr + load.memsz) % ps;
      let seg: OutSegment = { load, paddr: load.paddr, vaddr: load.vaddr, memsz: 0, filesz: 0, offset: outPos };
      let numExcluded = 0;
      const run: Record<string, number> = {};
      const endRun = (dropped: boolean) => {
        for (const k of Object.keys(run)) {
          if (dropped) excluded[k] += run[k];
          delete run[k];
        }
      };
      /** Bytes of the load at physical `paddr` (its own file range; zeros past p_filesz). */
      const readLoad = (paddr: number, dst: Uint8Array) => {
        const rel = paddr - load.paddr;
        const avail = Math.max(0, Math.min(dst.length, load.filesz - rel));
        if (avail > 0) reader.read(load.offset + rel, dst.subarray(0, avail));
        dst.fill(0, avail);
      };
      if (fracHead && fracHead !== ps) {
        const head = Buffer.alloc(fracHead);
        readLoad(load.paddr, head);
        write(head, outPos, isZeroRange(head, 0, fracHead, zero));
        outPos += fracHead;
        seg.memsz = seg.filesz = fracHead;
        pfnStart++;
      }
      if (fracTail) pfnEnd++;
      for (let w = pfnStart; w < pfnEnd; w += WINDOW) {
        const n = Math.min(WINDOW, pfnEnd - w);
        const why = reasons.subarray(0, n);
        why.fill(0);
        classifier?.classify(w, why, () => true);
        for (let c = 0; c < n; c += CHUNK_PAGES) {
          const count = Math.min(CHUNK_PAGES, n - c);
          readLoad((w + c) * ps, chunk.subarray(0, count * ps));
          for (let i = 0; i < count; i++) {
            const pfn = w + c + i;
            const size = pfn === pfnEnd - 1 && fracTail ? fracTail : ps;
            const at = i * ps;
            const isZero = isZeroRange(chunk, at, size, zero);
            let reason = why[c + i];
            if (!reason && level & DL_EXCLUDE_ZERO && isZero) reason = 0xff;
            if (reason) {
              const name = reason === 0xff ? 'zero' : EXCLUDED_NAMES[reason];
              run[name] = (run[name] ?? 0) + 1;
              if (numExcluded < PFN_EXCLUDED) {
                stashZero[numExcluded] = isZero ? 1 : 0;
                if (!isZero) stash.set(chunk.subarray(at, at + size), numExcluded * ps);
              }
              numExcluded++;
              seg.memsz += size;
              continue;
            }
            if (numExcluded > 0 && numExcluded < PFN_EXCLUDED) {
              // A short excluded run stays in the file, as makedumpfile keeps it.
              for (let k = 0; k < numExcluded; k++) write(stash.subarray(k * ps, (k + 1) * ps), outPos + k * ps, stashZero[k] === 1);
              outPos += numExcluded * ps;
              seg.filesz += numExcluded * ps;
              endRun(false);
            } else if (numExcluded >= PFN_EXCLUDED) {
              segments.push(seg);
              endRun(true);
              seg = { load, paddr: seg.paddr + seg.memsz, vaddr: seg.vaddr + BigInt(seg.memsz), memsz: 0, filesz: 0, offset: outPos };
            }
            numExcluded = 0;
            write(chunk.subarray(at, at + size), outPos, isZero);
            outPos += size;
            seg.memsz += size;
            seg.filesz += size;
          }
          progressDone += count * ps;
          report();
          await writer.throttle();
        }
        await yieldToEventLoop();
      }
      segments.push(seg);
      endRun(true); // a trailing excluded run is in p_memsz only
    }
    await writer.finish();
    out = undefined;

    const phnum = segments.length + 1;
    if (phnum > reservedPhdrs) {
      throw new ConfigError(`ELF output would need ${phnum} program headers (at most ${PN_XNUM - 1}); use --format kdump`, {
        field: '--format',
      });
    }
    const phoff = EHDR_SIZE;
    const phdrs: ProgramHeader[] = [
      { type: PT_NOTE, flags: 0, offset: noteOffset, vaddr: 0n, paddr: 0, filesz: notes.length, memsz: notes.length, align: 0 },
    ];
    for (const g of segments) {
      // A segment with no file bytes still points at where its data would be: makedumpfile 1.7.2
      // (its mmap reader) crashes on an offset-0 empty segment in some layouts.
      phdrs.push({
        type: PT_LOAD,
        flags: g.load.flags,
        offset: g.offset,
        vaddr: g.vaddr,
        paddr: g.paddr,
        filesz: g.filesz,
        memsz: g.memsz,
        align: g.load.align,
      });
    }
    if (notes.length) file.writeAt(notes, noteOffset);
    const table = new Uint8Array(phnum * PHDR_SIZE);
    phdrs.forEach((p, i) => table.set(encodeProgramHeader(p), i * PHDR_SIZE));
    file.writeAt(table, phoff);
    file.writeAt(encodeElfHeader({ ...source.header, phoff, phnum }), 0);
    const end = outPos;
    file.commit(end);
    progressDone = totalBytes;
    report(true);
    return { path, bytes: end, dataBytes: writer.dataBytes, loads: segments.length, excluded };
  } catch (e) {
    await out?.abort();
    file.abort();
    throw e;
  }
}
