import { closeSync, openSync, readSync, write } from 'node:fs';
import { availableParallelism } from 'node:os';
import { AtomicFile, ConfigError, FormatError, IoError, MiB } from '@efikdump/core/base';
import { DL_EXCLUDE_ZERO, EXCLUDED_NAMES, needsClassification, type PageClassifier } from '../../dump-level/dump-level';
import { ElfImageSource } from '../../source/elf-image-source';
import type { PageSource } from '../../source/page-source';
import { EarlyWriteback } from '../early-writeback';
import { isZeroRange, RANDOM_PAGE_DISTINCT } from '../page-content';
import { classifyBatch, CompressPool, type CompressResult } from './compress-pool';
import { compressionFlag, compressionLevel, type CompressionName } from './compression';
import {
  bitmapBytesFor,
  encodeDiskDumpHeader,
  encodeKdumpSubHeader,
  KDUMP_HEADER_VERSION,
  KDUMP_SIGNATURE,
  KDUMP_SUB_HEADER_BYTES,
  PAGE_DESC_BYTES,
} from './diskdump.codec';

/** Frames handled per window: one 32 KiB piece of each bitmap. */
export const WINDOW_FRAMES = 32 * 1024 * 8;
/**
 * Pages per batch sent to a worker (256 KiB) and batches in flight per worker. Small on purpose:
 * on this project's machines a first touch of a 4 KiB page of memory costs about 12 µs (a page
 * fault in a VM without hardware-assisted paging; docs/performance.md), so every MiB the writer
 * keeps in flight costs 3 ms before it is used once. 64 pages × 4 batches measured 25 % fewer page
 * faults (22 500 → 16 000 for the benchmark's lzo -d 31) and no slower than 256 × 8.
 */
export const BATCH_PAGES = 64;
const INFLIGHT_PER_WORKER = 4;
/** Dumped runs of an ELF input at most this many frames apart are read with one read (see flushSpan). */
const MERGE_GAP = 8;
/** Descriptor and data output is gathered into buffers of this size before each write (small for the same reason). */
const WRITE_BUFFER_BYTES = 1 * MiB;

export interface KdumpWriteOptions {
  compress: CompressionName;
  /** makedumpfile -d: bit 1 from content, the others through `classifier`. */
  dumpLevel: number;
  /** Compression worker threads (default: the machine's parallelism). */
  threads?: number;
  /** Required when the level excludes more than zero pages. */
  classifier?: PageClassifier;
  onProgress?: (p: { done: number; total: number }) => void;
}

export interface KdumpWriteResult {
  path: string;
  bytes: number;
  /** Frames that are RAM in the input (bitmap 1). */
  ramFrames: number;
  /** Frames with a page descriptor (bitmap 2). */
  dumpedFrames: number;
  /** Of those, all-zero frames pointing at the shared zero page (with dump level bit 1). */
  zeroFrames: number;
  /** Frames left out per reason (free, cache, ...), plus those the input had already left out. */
  excluded: Record<string, number>;
  /** Bytes of page data (compressed or raw), the shared zero page included. */
  dataBytes: number;
  threads: number;
}

export const defaultThreads = (): number => Math.max(1, availableParallelism());

const POPCOUNT = new Uint8Array(256).map((_, i) => {
  let n = 0;
  for (let x = i; x; x >>= 1) n += x & 1;
  return n;
});

/**
 * Appends bytes to a region of the output file through buffers written asynchronously (libuv's
 * thread pool), so that the main thread keeps feeding the compression workers while the kernel
 * copies; at most a few buffers are in flight (back-pressure through `throttle`).
 */
class RegionWriter {
  private cur: Buffer;
  private used = 0;
  private readonly free: Buffer[] = [];
  private readonly pending = new Set<Promise<void>>();
  private error: Error | undefined;
  constructor(
    private readonly fd: number,
    private readonly path: string,
    private position: number,
    private readonly size = WRITE_BUFFER_BYTES,
  ) {
    this.cur = Buffer.allocUnsafe(size);
  }
  get offset(): number {
    return this.position + this.used;
  }
  append(data: Uint8Array): void {
    if (this.used + data.length > this.cur.length) this.issue();
    this.cur.set(data, this.used);
    this.used += data.length;
  }
  /** Waits while more than `max` writes are in flight; rethrows a failed write. */
  async throttle(max = 2): Promise<void> {
    while (this.pending.size > max) await Promise.race(this.pending);
    if (this.error) throw this.error;
  }
  async finish(): Promise<void> {
    if (this.used) this.issue();
    await Promise.all(this.pending);
    if (this.error) throw this.error;
  }
  private issue(): void {
    const buf = this.cur;
    const length = this.used;
    const position = this.position;
    this.position += length;
    this.used = 0;
    this.cur = this.free.pop() ?? Buffer.allocUnsafe(this.size);
    const p: Promise<void> = writeFully(this.fd, buf, length, position, this.path)
      .catch((e: Error) => {
        this.error ??= e;
      })
      .finally(() => {
        this.pending.delete(p);
        this.free.push(buf);
      });
    this.pending.add(p);
  }
}

function writeFully(fd: number, buf: Buffer, length: number, position: number, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (done: number) => {
      if (done >= length) return resolve();
      write(fd, buf, done, length - done, position + done, (err, n) => {
        if (err) reject(new IoError(`write of ${length} bytes failed: ${err.message}`, { file: path, offset: position }));
        else step(done + n);
      });
    };
    step(0);
  });
}

/**
 * Writes `source` as a kdump-compressed dump at `path` the way makedumpfile does (domain reference
 * §3.1; makedumpfile.c write_kdump_header, write_kdump_pages_and_bitmap_cyclic): header version 6,
 * the notes after the sub header, bitmap 1 (RAM) and bitmap 2 (dumped), one descriptor per dumped
 * frame in frame order, then the data, with one shared zero page first when bit 1 of the level is
 * set. Compression runs on worker threads with a bounded number of batches in flight; the main
 * thread reads, marks zero and random-looking pages (the workers only deflate), writes, and starts
 * the output's writeback as it goes. Memory is bounded by the window and batch sizes, not by the
 * machine. The file appears under its name only when complete (after an fsync).
 */
export async function writeKdumpCompressed(source: PageSource, path: string, options: KdumpWriteOptions): Promise<KdumpWriteResult> {
  const { dumpLevel, compress } = options;
  if (needsClassification(dumpLevel) && !options.classifier) {
    throw new ConfigError(`dump level ${dumpLevel} needs a page classifier`, { field: '--dump-level' });
  }
  const bs = source.pageSize;
  const maxMapnr = source.maxMapnr;
  if (maxMapnr === 0)
    throw new FormatError('memory of the input', 'at least one page (a PT_LOAD or a bitmap bit)', 'none', { file: source.name });
  const bitmapBytes = bitmapBytesFor(maxMapnr, bs);
  const notes = source.notes;
  const subHdrBlocks = Math.ceil((KDUMP_SUB_HEADER_BYTES + notes.length) / bs);
  const bitmap1Offset = (1 + subHdrBlocks) * bs;
  const bitmap2Offset = bitmap1Offset + bitmapBytes;
  const descOffset = bitmap2Offset + bitmapBytes;
  const flag = compressionFlag[compress];
  const threads = flag ? Math.max(1, options.threads ?? defaultThreads()) : 0;

  const file = new AtomicFile(path);
  let pool: CompressPool | undefined;
  let readBack: number | undefined;
  let writeFd: number | undefined;
  let writeback: EarlyWriteback | undefined;
  try {
    // Pass 1: bitmaps, window by window; bitmap 2 is bitmap 1 less what the input or the level leaves out.
    const windowBytes = WINDOW_FRAMES / 8;
    const ram = new Uint8Array(windowBytes);
    const present = new Uint8Array(windowBytes);
    const reasons = options.classifier ? new Uint8Array(WINDOW_FRAMES) : undefined;
    const excluded: Record<string, number> = Object.fromEntries(EXCLUDED_NAMES.slice(1).map((n) => [n, 0]));
    excluded['not-in-input'] = 0;
    let ramFrames = 0;
    let dumpedFrames = 0;
    for (let start = 0; start < maxMapnr; start += WINDOW_FRAMES) {
      const bytes = Math.min(windowBytes, Math.ceil((maxMapnr - start) / 8));
      const r = ram.subarray(0, bytes);
      const p = present.subarray(0, bytes);
      source.ramBitmap(start, r);
      source.presentBitmap(start, p);
      let ramHere = 0;
      let presentHere = 0;
      for (let i = 0; i < bytes; i++) {
        p[i] &= r[i];
        ramHere += POPCOUNT[r[i]];
        presentHere += POPCOUNT[p[i]];
      }
      ramFrames += ramHere;
      excluded['not-in-input'] += ramHere - presentHere;
      if (reasons && presentHere) {
        const n = Math.min(WINDOW_FRAMES, maxMapnr - start);
        const out = reasons.subarray(0, n);
        options.classifier!.classify(start, out, (pfn) => {
          const rel = pfn - start;
          return rel >= 0 && rel < n && (p[rel >> 3] & (1 << (rel & 7))) !== 0;
        });
        for (let i = 0; i < n; i++) {
          if (out[i] && p[i >> 3] & (1 << (i & 7))) {
            p[i >> 3] &= ~(1 << (i & 7));
            excluded[EXCLUDED_NAMES[out[i]]]++;
          }
        }
      }
      for (let i = 0; i < bytes; i++) dumpedFrames += POPCOUNT[p[i]];
      file.writeAt(r, bitmap1Offset + start / 8);
      file.writeAt(p, bitmap2Offset + start / 8);
    }

    // Pass 2: descriptors and data, reading bitmap 2 back from the file being written.
    const dataStart = descOffset + dumpedFrames * PAGE_DESC_BYTES;
    writeFd = openSync(file.tempPath, 'r+');
    const descs = new RegionWriter(writeFd, path, descOffset, WRITE_BUFFER_BYTES / 4);
    const data = new RegionWriter(writeFd, path, dataStart);
    const early = new EarlyWriteback(writeFd, path);
    writeback = early;
    const zeroDescOffset = dataStart;
    if (dumpLevel & DL_EXCLUDE_ZERO) data.append(new Uint8Array(bs));
    const descBuf = new Uint8Array(PAGE_DESC_BYTES);
    let zeroFrames = 0;
    let done = 0;
    let reported = 0;
    const report = (force = false) => {
      if (options.onProgress && (force || done - reported >= 16384)) {
        reported = done;
        options.onProgress({ done, total: dumpedFrames });
      }
    };
    const descView = new DataView(descBuf.buffer);
    // page_desc { i64 offset; u32 size; u32 flags; u64 page_flags = 0 }, without a BigInt per page
    const putDesc = (offset: number, size: number, flags: number) => {
      descView.setUint32(0, offset % 0x100000000, true);
      descView.setUint32(4, Math.floor(offset / 0x100000000), true);
      descView.setUint32(8, size, true);
      descView.setUint32(12, flags, true);
    };
    const emit = (size: number, flags: number, bytes: Uint8Array | undefined) => {
      if (size < 0) {
        zeroFrames++;
        putDesc(zeroDescOffset, bs, 0);
      } else {
        putDesc(data.offset, size, flags);
        data.append(bytes!);
      }
      descs.append(descBuf);
      done++;
    };
    const detectZero = (dumpLevel & DL_EXCLUDE_ZERO) !== 0;
    const batchBytes = BATCH_PAGES * bs;
    const inflight: { promise: Promise<CompressResult> }[] = [];
    const freeBuffers: ArrayBuffer[] = [];
    const takeBuffer = () => freeBuffers.pop() ?? new ArrayBuffer(batchBytes);
    const drainOne = async () => {
      const head = inflight.shift()!;
      const res = await head.promise;
      const out = new Uint8Array(res.out);
      const pages = new Uint8Array(res.pages);
      let pos = 0;
      for (let i = 0; i < res.sizes.length; i++) {
        const size = res.sizes[i];
        if (size < 0) {
          emit(size, 0, undefined);
        } else if (res.flags[i]) {
          emit(size, res.flags[i], out.subarray(pos, pos + size));
          pos += size;
        } else {
          emit(size, 0, pages.subarray(i * bs, (i + 1) * bs));
        }
      }
      freeBuffers.push(res.pages, res.out);
      report();
      early.poke(data.offset - dataStart);
      await data.throttle();
      await descs.throttle();
    };
    if (threads && compress !== 'none') pool = new CompressPool(threads, bs, compress, compressionLevel(compress));
    const maxInflight = Math.max(2, threads * INFLIGHT_PER_WORKER);
    // Which thread marks zero and random-looking pages: the main thread for the slow codecs
    // (zlib, zstd: their workers are the bottleneck, the main thread waits), the workers for the
    // fast ones (lzo, snappy: the main thread's reads and writes are then the bottleneck).
    const classifyOnMain = compress === 'zlib' || compress === 'zstd';
    const zeroPage = Buffer.alloc(bs);
    // A batch gathers dumped frames in frame order, contiguous or not (after filtering, runs are short).
    let batch: { pages: ArrayBuffer; count: number } | undefined;
    const dispatch = async () => {
      if (!batch || !batch.count) return;
      const { pages, count } = batch;
      batch = undefined;
      const view = Buffer.from(pages, 0, count * bs);
      if (!pool) {
        for (let i = 0; i < count; i++) {
          emit(detectZero && isZeroRange(view, i * bs, bs, zeroPage) ? -1 : bs, 0, view.subarray(i * bs, (i + 1) * bs));
        }
        freeBuffers.push(pages);
        report();
        await data.throttle();
        await descs.throttle();
        return;
      }
      if (inflight.length >= maxInflight) await drainOne();
      if (!classifyOnMain) {
        inflight.push({ promise: pool.submit({ pages, count, detectZero, randomDistinct: RANDOM_PAGE_DISTINCT, out: takeBuffer() }) });
        return;
      }
      const kinds = new Uint8Array(count);
      classifyBatch(view, count, bs, detectZero, RANDOM_PAGE_DISTINCT, kinds, zeroPage);
      inflight.push({ promise: pool.submit({ pages, count, kinds, out: takeBuffer() }) });
    };
    // Frames [pfn, pfn + count) into the batch, read from the input or copied from `staged`
    // (frames from stagedPfn on).
    const take = async (pfn: number, count: number, staged?: Uint8Array, stagedPfn = 0) => {
      while (count > 0) {
        batch ??= { pages: takeBuffer(), count: 0 };
        const n = Math.min(count, BATCH_PAGES - batch.count);
        const dst = new Uint8Array(batch.pages, batch.count * bs, n * bs);
        if (staged) dst.set(staged.subarray((pfn - stagedPfn) * bs, (pfn - stagedPfn + n) * bs));
        else source.readFrames(pfn, n, dst);
        batch.count += n;
        pfn += n;
        count -= n;
        if (batch.count === BATCH_PAGES) await dispatch();
      }
    };
    // After filtering, dumped runs are short: on an ELF input, runs less than MERGE_GAP frames
    // apart are read with one read of their span (up to BATCH_PAGES frames) and copied from it;
    // a read costs as much as copying tens of KiB.
    const mergeGap = source instanceof ElfImageSource ? MERGE_GAP : 0;
    const span = new Uint8Array(mergeGap ? BATCH_PAGES * bs : 0);
    const spanRuns: number[] = [];
    const flushSpan = async () => {
      if (!spanRuns.length) return;
      const first = spanRuns[0];
      if (spanRuns.length === 2) {
        await take(first, spanRuns[1]);
      } else {
        const last = spanRuns[spanRuns.length - 2] + spanRuns[spanRuns.length - 1];
        source.readFrames(first, last - first, span);
        for (let k = 0; k < spanRuns.length; k += 2) await take(spanRuns[k], spanRuns[k + 1], span, first);
      }
      spanRuns.length = 0;
    };
    const submit = async (pfn: number, count: number) => {
      if (!mergeGap) return take(pfn, count);
      if (spanRuns.length) {
        const first = spanRuns[0];
        const end = spanRuns[spanRuns.length - 2] + spanRuns[spanRuns.length - 1];
        if (pfn - end > mergeGap || pfn + count - first > BATCH_PAGES) await flushSpan();
      }
      spanRuns.push(pfn, count);
    };

    readBack = openSync(file.tempPath, 'r');
    const bits = new Uint8Array(windowBytes);
    let runStart = -1;
    let runLength = 0;
    for (let start = 0; start < maxMapnr; start += WINDOW_FRAMES) {
      const bytes = Math.min(windowBytes, Math.ceil((maxMapnr - start) / 8));
      readExactly(readBack, file.tempPath, bitmap2Offset + start / 8, bits.subarray(0, bytes));
      for (let i = 0; i < bytes; i++) {
        const b = bits[i];
        if (b === 0) {
          if (runLength) await submit(runStart, runLength);
          runLength = 0;
          continue;
        }
        for (let k = 0; k < 8; k++) {
          const pfn = start + i * 8 + k;
          if (b & (1 << k)) {
            if (runLength && runStart + runLength === pfn && runLength < BATCH_PAGES) {
              runLength++;
            } else {
              if (runLength) await submit(runStart, runLength);
              runStart = pfn;
              runLength = 1;
            }
          } else if (runLength) {
            await submit(runStart, runLength);
            runLength = 0;
          }
        }
      }
    }
    if (runLength) await submit(runStart, runLength);
    await flushSpan();
    await dispatch();
    while (inflight.length) await drainOne();
    if (done !== dumpedFrames) throw new IoError(`wrote ${done} page descriptors for ${dumpedFrames} dumped frames`, { file: path });
    await descs.finish();
    await data.finish();
    await early.settle();
    closeSync(writeFd);
    writeFd = undefined;
    report(true);

    // Headers last: a reader that finds a header finds everything it describes.
    const sub = encodeKdumpSubHeader({
      physBase: source.physBase,
      dumpLevel: dumpLevel | source.inputDumpLevel,
      split: 0,
      startPfn: 0,
      endPfn: 0,
      offsetVmcoreinfo: source.vmcoreinfoText ? bs + KDUMP_SUB_HEADER_BYTES + source.vmcoreinfoText.offset : 0,
      sizeVmcoreinfo: source.vmcoreinfoText?.size ?? 0,
      offsetNote: notes.length ? bs + KDUMP_SUB_HEADER_BYTES : 0,
      sizeNote: notes.length,
      offsetEraseinfo: 0,
      sizeEraseinfo: 0,
      startPfn64: 0,
      endPfn64: 0,
      maxMapnr64: maxMapnr,
    });
    file.writeAt(sub, bs);
    if (notes.length) file.writeAt(notes, bs + KDUMP_SUB_HEADER_BYTES);
    file.writeAt(
      encodeDiskDumpHeader({
        signature: KDUMP_SIGNATURE,
        headerVersion: KDUMP_HEADER_VERSION,
        utsname: source.utsname,
        timestampSec: source.timestampSec,
        timestampUsec: 0,
        status: flag,
        blockSize: bs,
        subHdrSize: subHdrBlocks,
        bitmapBlocks: (2 * bitmapBytes) / bs,
        maxMapnr,
        totalRamBlocks: 0,
        deviceBlocks: 0,
        writtenBlocks: 0,
        currentCpu: 0,
        nrCpus: source.nrCpus,
      }),
      0,
    );
    const bytes = data.offset;
    closeSync(readBack);
    readBack = undefined;
    file.commit(bytes);
    return {
      path,
      bytes,
      ramFrames,
      dumpedFrames,
      zeroFrames,
      excluded,
      dataBytes: bytes - dataStart,
      threads,
    };
  } catch (e) {
    file.abort();
    throw e;
  } finally {
    if (readBack !== undefined) closeSync(readBack);
    await writeback?.idle();
    if (writeFd !== undefined) closeSync(writeFd);
    await pool?.close();
  }
}

function readExactly(fd: number, file: string, position: number, dst: Uint8Array): void {
  let done = 0;
  while (done < dst.length) {
    const n = readSync(fd, dst, done, dst.length - done, position + done);
    if (n === 0) throw new IoError(`short read of ${dst.length} bytes`, { file, offset: position });
    done += n;
  }
}
