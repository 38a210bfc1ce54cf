import { Worker } from 'node:worker_threads';
import { IoError } from '@efikdump/core/base';
import { isZeroRange, looksRandom, RANDOM_PAGE_DISTINCT } from '../page-content';
import { compressionFlag, type CompressionName } from './compression';
import { LZO1X1_DICT_ENTRIES, lzo1x1Compress } from './lzo1x-compress';

export { RANDOM_PAGE_DISTINCT };

/** What the worker does with each page of a batch (decided on the main thread, see classifyBatch). */
export const PAGE_TRY = 0;
export const PAGE_ZERO = 1;
export const PAGE_RAW = 2;

/** One batch of whole pages to compress. */
export interface CompressJob {
  /** `count` pages of `pageSize` bytes; transferred to the worker and back. */
  pages: ArrayBuffer;
  count: number;
  /**
   * PAGE_TRY, PAGE_ZERO or PAGE_RAW for each page (classifyBatch); without it the worker decides
   * the same way, with `detectZero` and `randomDistinct`.
   */
  kinds?: Uint8Array;
  detectZero?: boolean;
  randomDistinct?: number;
  /** Room for the compressed output (count * pageSize bytes); transferred and back. */
  out: ArrayBuffer;
}

export interface CompressResult {
  pages: ArrayBuffer;
  out: ArrayBuffer;
  /**
   * For each page: -1 for a zero page (no data); with flags[i] set, the size of its compressed
   * data, packed in page order at the start of `out`; otherwise the page size: the page is stored
   * raw and its bytes are the page's own in `pages`.
   */
  sizes: Int32Array;
  /** page_desc.flags of each page: the compression flag, or 0 when stored raw. */
  flags: Uint8Array;
}

/**
 * Marks the pages of a batch zero (when `detectZero`), raw (random-looking: at least
 * `randomDistinct` distinct values among 256 sampled bytes; 0 never) or to be tried. It runs on the
 * main thread, which only reads and writes, so that the workers spend their time in deflate.
 */
export function classifyBatch(
  pages: Buffer,
  count: number,
  pageSize: number,
  detectZero: boolean,
  randomDistinct: number,
  kinds: Uint8Array,
  zero: Buffer,
): void {
  for (let i = 0; i < count; i++) {
    const at = i * pageSize;
    if (detectZero && isZeroRange(pages, at, pageSize, zero)) kinds[i] = PAGE_ZERO;
    else if (randomDistinct && looksRandom(pages, at, pageSize, randomDistinct)) kinds[i] = PAGE_RAW;
    else kinds[i] = PAGE_TRY;
  }
}

/**
 * The worker's code, evaluated as a script: it must run from the compiled package and under
 * ts-jest alike, so it is plain JavaScript with no imports of ours; the LZO1X-1 compressor comes in
 * as the source text of lzo1x1Compress, the zstd and snappy libraries as resolved paths.
 * `compress(src, at, dst, pos, limit)` writes the compressed page at `dst[pos..]` and returns its
 * length when shorter than `limit`, else -1 (the page is stored raw).
 *
 * zlib: one stream per worker is reset for every page (as makedumpfile's compress_mdf does with
 * deflateReset since commit aa5ee50a) through the stream's handle; when that internal handle is
 * missing or fails a self-test, each page goes through zlib.deflateSync instead (same bytes,
 * slower). lzo: our LZO1X-1 with one hash table per worker. zstd: @bokuweb/zstd-wasm (zstd's C
 * library built to WebAssembly) with one compression context per worker, at makedumpfile's level
 * 1 unless told otherwise. snappy: snappy-wasm (the Rust snap crate built to WebAssembly).
 */
const WORKER_SOURCE = String.raw`
const { parentPort, workerData } = require('node:worker_threads');
const zlib = require('node:zlib');
const PAGE = workerData.pageSize;
const FLAG = workerData.flag;
const LEVEL = workerData.level;
const CODEC = workerData.codec;
const { PAGE_TRY, PAGE_ZERO, PAGE_RAW } = workerData;
function makeDeflater() {
  const slow = (src, at, dst, pos, limit) => {
    const c = zlib.deflateSync(src.subarray(at, at + PAGE), { level: LEVEL });
    if (c.length >= limit) return -1;
    c.copy(dst, pos);
    return c.length;
  };
  try {
    const stream = zlib.createDeflate({ level: LEVEL });
    const handle = stream._handle;
    const state = stream._writeState;
    if (!handle || typeof handle.writeSync !== 'function' || typeof handle.reset !== 'function' || !state) return slow;
    // Straight into the batch's output: with Z_FINISH, output room left over means the stream
    // ended; none left means it did not fit (the page is stored raw).
    const fast = (src, at, dst, pos, limit) => {
      handle.writeSync(zlib.constants.Z_FINISH, src, at, PAGE, dst, pos, limit);
      const left = state[0];
      handle.reset();
      return left > 0 ? limit - left : -1;
    };
    const probe = Buffer.alloc(2 * PAGE);
    for (let i = 0; i < PAGE; i++) probe[i] = (i * 31 + (i >> 7)) & 0xff;
    let x = 12345;
    for (let i = PAGE; i < 2 * PAGE; i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; probe[i] = x >>> 24; }
    const dst = Buffer.alloc(2 * PAGE);
    const dst2 = Buffer.alloc(2 * PAGE);
    for (let round = 0; round < 2; round++) {
      const n = fast(probe, 0, dst, 7, PAGE);
      if (n <= 0 || !zlib.inflateSync(dst.subarray(7, 7 + n)).equals(probe.subarray(0, PAGE))) return slow;
      if (slow(probe, 0, dst2, 0, PAGE) !== n || !dst.subarray(7, 7 + n).equals(dst2.subarray(0, n))) return slow;
      // An incompressible page must come back as -1 and leave the stream reusable.
      if (fast(probe, PAGE, dst, 0, PAGE) !== -1) return slow;
    }
    return fast;
  } catch (e) {
    return slow;
  }
}
function makeLzo() {
  const lzo1x1Compress = (${lzo1x1Compress.toString()});
  const dict = new Int32Array(${LZO1X1_DICT_ENTRIES});
  const bound = PAGE + (PAGE >> 4) + 67;
  const scratch = Buffer.alloc(bound);
  let base = 1;
  const lzo = (src, at, dst, pos, limit) => {
    if (base > 0x7fffffff - 2 * PAGE) { dict.fill(0); base = 1; }
    // Straight into the batch's output when the worst case fits there, else through scratch.
    const direct = pos + bound <= dst.length;
    const n = lzo1x1Compress(src, at, PAGE, direct ? dst : scratch, dict, base, direct ? pos : 0);
    base += PAGE;
    if (n >= limit) return -1;
    if (!direct) dst.set(scratch.subarray(0, n), pos);
    return n;
  };
  warmUp(lzo);
  return lzo;
}
// Runs a codec over made-up pages of every shape (zero, random, short and long matches, long
// literal runs) before the first batch, while the main thread builds the bitmaps: the JIT then
// compiles the compressor with feedback from every branch instead of deoptimising on the real
// pages one branch at a time.
function warmUp(compress) {
  const pages = Buffer.alloc(6 * PAGE);
  let x = 12345;
  const rnd = () => { x = (Math.imul(x, 1103515245) + 12345) >>> 0; return x >>> 24; };
  for (let i = PAGE; i < 2 * PAGE; i++) pages[i] = rnd();
  for (let i = 2 * PAGE; i < 3 * PAGE; i++) pages[i] = i % 64 < 8 ? rnd() : (i % 64) * 3;
  for (let i = 3 * PAGE; i < 4 * PAGE; i++) pages[i] = 97 + ((i * 7) % 13) + (rnd() < 20 ? rnd() & 7 : 0);
  for (let i = 4 * PAGE; i < 4 * PAGE + 1500; i++) pages[i] = rnd();
  for (let i = 5 * PAGE + 8; i < 6 * PAGE; i++) pages[i] = rnd() < 40 ? rnd() : pages[i - 1 - (rnd() & 3) - ((rnd() & 1) ? 700 : 0)];
  const out = Buffer.alloc(2 * PAGE);
  for (let round = 0; round < 150; round++) for (let k = 0; k < 6; k++) compress(pages, k * PAGE, out, round & 1 ? 5 : PAGE, PAGE);
}
async function makeZstd() {
  const zstd = require(workerData.modulePath);
  await zstd.init();
  const cctx = zstd.createCCtx();
  const noDict = new Uint8Array(0);
  return (src, at, dst, pos, limit) => {
    const c = zstd.compressUsingDict(cctx, src.subarray(at, at + PAGE), noDict, LEVEL);
    if (c.length >= limit) return -1;
    dst.set(c, pos);
    return c.length;
  };
}
function makeSnappy() {
  const snappy = require(workerData.modulePath);
  return (src, at, dst, pos, limit) => {
    const c = snappy.compress_raw(src.subarray(at, at + PAGE));
    if (c.length >= limit) return -1;
    dst.set(c, pos);
    return c.length;
  };
}
let deflate = null;
const ready = (async () => {
  if (CODEC === 'zlib') deflate = makeDeflater();
  else if (CODEC === 'lzo') deflate = makeLzo();
  else if (CODEC === 'zstd') deflate = await makeZstd();
  else if (CODEC === 'snappy') deflate = makeSnappy();
})();
// The main thread's classifyBatch, for jobs that come without kinds (fast codecs: the main thread
// is then the busier one): zero when detectZero, raw when random-looking, else tried.
const ZERO = Buffer.alloc(PAGE);
const seen = new Uint8Array(256);
function classifyHere(pages, count, detectZero, randomDistinct) {
  const kinds = new Uint8Array(count);
  const step = Math.max(1, PAGE >> 8);
  for (let i = 0; i < count; i++) {
    const at = i * PAGE;
    let zero = detectZero;
    for (let k = 0; zero && k < 16; k++) if (pages[at + k] !== 0) zero = false;
    if (zero && pages.compare(ZERO, 0, PAGE, at, at + PAGE) === 0) { kinds[i] = PAGE_ZERO; continue; }
    if (randomDistinct) {
      seen.fill(0);
      let distinct = 0;
      for (let k = at; k < at + PAGE; k += step) {
        const b = pages[k];
        if (!seen[b]) { seen[b] = 1; distinct++; }
      }
      if (distinct >= randomDistinct) { kinds[i] = PAGE_RAW; continue; }
    }
    kinds[i] = PAGE_TRY;
  }
  return kinds;
}
parentPort.on('message', async (job) => {
  await ready;
  const pages = Buffer.from(job.pages);
  const out = Buffer.from(job.out);
  const kinds = job.kinds ?? classifyHere(pages, job.count, job.detectZero, job.randomDistinct);
  const sizes = new Int32Array(job.count);
  const flags = new Uint8Array(job.count);
  let pos = 0;
  for (let i = 0; i < job.count; i++) {
    const kind = kinds[i];
    if (kind === PAGE_ZERO) { sizes[i] = -1; continue; }
    const n = kind === PAGE_TRY && deflate ? deflate(pages, i * PAGE, out, pos, PAGE) : -1;
    if (n >= 0) {
      sizes[i] = n;
      flags[i] = FLAG;
      pos += n;
    } else {
      sizes[i] = PAGE; // raw: the bytes stay in pages
    }
  }
  parentPort.postMessage({ id: job.id, pages: job.pages, out: job.out, sizes, flags }, [job.pages, job.out, sizes.buffer, flags.buffer]);
});
`;

/** The npm package each WebAssembly codec comes from (chosen by measurement: docs/performance.md). */
export const CODEC_PACKAGES = { zstd: '@bokuweb/zstd-wasm', snappy: 'snappy-wasm' } as const;

/** Where the worker finds a codec's package: resolved here, as the workers' eval'd code has no module path. */
export function codecModulePath(codec: keyof typeof CODEC_PACKAGES): string {
  try {
    return require.resolve(CODEC_PACKAGES[codec]);
  } catch (e) {
    throw new IoError(
      `--compress ${codec} needs the npm package ${CODEC_PACKAGES[codec]}, which is not installed: ${(e as Error).message.split('\n')[0]}`,
    );
  }
}

interface Pending {
  resolve(r: CompressResult): void;
  reject(e: Error): void;
}

/**
 * Worker threads that compress batches of pages. Jobs go to the worker with the fewest pending;
 * each worker answers in order. The caller bounds how many jobs are in flight (back-pressure).
 */
export class CompressPool {
  private readonly workers: { worker: Worker; pending: Map<number, Pending> }[] = [];
  private nextId = 1;
  private failure: Error | undefined;
  private closing = false;

  /**
   * `codec` is a compression other than none; `level` is zlib's or zstd's (ignored by lzo and
   * snappy). A worker whose codec fails to load fails every job (an IoError).
   */
  constructor(threads: number, pageSize: number, codec: Exclude<CompressionName, 'none'>, level: number) {
    const flag = compressionFlag[codec];
    const modulePath = codec === 'zstd' || codec === 'snappy' ? codecModulePath(codec) : undefined;
    for (let i = 0; i < threads; i++) {
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { pageSize, flag, level, codec, modulePath, PAGE_TRY, PAGE_ZERO, PAGE_RAW },
      });
      const entry = { worker, pending: new Map<number, Pending>() };
      worker.on('message', (m: CompressResult & { id: number }) => {
        const p = entry.pending.get(m.id);
        entry.pending.delete(m.id);
        p?.resolve({ pages: m.pages, out: m.out, sizes: m.sizes, flags: m.flags });
      });
      const fail = (e: Error) => {
        this.failure ??= new IoError(`compression worker failed: ${e.message}`);
        for (const p of entry.pending.values()) p.reject(this.failure);
        entry.pending.clear();
      };
      worker.on('error', fail);
      // terminate() (close) ends a worker with code 1: not a failure.
      worker.on('exit', (code) => {
        if (code !== 0 && !this.closing) fail(new Error(`exited with code ${code}`));
      });
      this.workers.push(entry);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  submit(job: CompressJob): Promise<CompressResult> {
    if (this.failure) return Promise.reject(this.failure);
    const entry = this.workers.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
    const id = this.nextId++;
    const result = new Promise<CompressResult>((resolve, reject) => {
      entry.pending.set(id, { resolve, reject });
      entry.worker.postMessage(
        {
          id,
          pages: job.pages,
          out: job.out,
          count: job.count,
          kinds: job.kinds,
          detectZero: job.detectZero,
          randomDistinct: job.randomDistinct,
        },
        [job.pages, job.out],
      );
    });
    // A job the caller abandoned (it failed on another and stopped waiting) may still be rejected
    // later: that must not become an unhandled rejection that kills the process with a stack.
    result.catch(() => undefined);
    return result;
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}
