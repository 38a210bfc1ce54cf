import { Worker } from 'node:worker_threads';
import { IoError } from '@efikdump/core';

/** One batch of whole pages to compress (zero pages found first when `detectZero`). */
export interface CompressJob {
  /** `count` pages of `pageSize` bytes; transferred to the worker and back. */
  pages: ArrayBuffer;
  count: number;
  detectZero: boolean;
  /** Room for the packed output (count * pageSize bytes); transferred and back. */
  out: ArrayBuffer;
}

export interface CompressResult {
  pages: ArrayBuffer;
  out: ArrayBuffer;
  /** Bytes of each page's data in `out`, in order; -1 for an all-zero page (no data). */
  sizes: Int32Array;
  /** page_desc.flags of each page: the compression flag, or 0 when stored raw. */
  flags: Uint8Array;
}

/**
 * The worker's code, evaluated as a script: it must run from the compiled package and under
 * ts-jest alike, so it is plain JavaScript with no imports of ours. One zlib stream per worker is
 * reset for every page (as makedumpfile's compress_mdf does with deflateReset since commit
 * aa5ee50a) through the stream's handle; when that internal handle is missing or fails a
 * self-test, each page goes through zlib.deflateSync instead (same bytes, slower).
 */
const WORKER_SOURCE = String.raw`
const { parentPort, workerData } = require('node:worker_threads');
const zlib = require('node:zlib');
const PAGE = workerData.pageSize;
const FLAG = workerData.flag;
const LEVEL = workerData.level;
const RANDOM_DISTINCT = workerData.randomDistinct;
const ZERO = Buffer.alloc(PAGE);
const seen = new Uint8Array(256);
// A page whose sampled bytes take as many distinct values as random bytes do (about 162 of 256
// samples) cannot be shrunk by deflate at level 1; makedumpfile would try and store it raw, so
// we store it raw without trying.
function looksRandom(page) {
  seen.fill(0);
  let distinct = 0;
  for (let i = 0; i < PAGE; i += PAGE >> 8) {
    const b = page[i];
    if (!seen[b]) { seen[b] = 1; distinct++; }
  }
  return distinct >= RANDOM_DISTINCT;
}
function makeDeflater() {
  const slow = (src) => zlib.deflateSync(src, { level: LEVEL });
  try {
    const stream = zlib.createDeflate({ level: LEVEL });
    const handle = stream._handle;
    const state = stream._writeState;
    if (!handle || typeof handle.writeSync !== 'function' || typeof handle.reset !== 'function' || !state) return slow;
    const out = Buffer.alloc(PAGE + (PAGE >> 3) + 64);
    const fast = (src) => {
      handle.writeSync(zlib.constants.Z_FINISH, src, 0, src.length, out, 0, out.length);
      const n = out.length - state[0];
      handle.reset();
      return out.subarray(0, n);
    };
    const probe = Buffer.alloc(PAGE);
    for (let i = 0; i < PAGE; i++) probe[i] = (i * 31 + (i >> 7)) & 0xff;
    for (let round = 0; round < 2; round++) {
      const c = Buffer.from(fast(probe));
      if (!zlib.inflateSync(c).equals(probe) || !c.equals(slow(probe))) return slow;
    }
    return fast;
  } catch (e) {
    return slow;
  }
}
const deflate = FLAG ? makeDeflater() : null;
parentPort.on('message', (job) => {
  const pages = Buffer.from(job.pages);
  const out = Buffer.from(job.out);
  const sizes = new Int32Array(job.count);
  const flags = new Uint8Array(job.count);
  let pos = 0;
  for (let i = 0; i < job.count; i++) {
    const page = pages.subarray(i * PAGE, (i + 1) * PAGE);
    if (job.detectZero && page.equals(ZERO)) { sizes[i] = -1; continue; }
    const c = deflate && !(RANDOM_DISTINCT && looksRandom(page)) ? deflate(page) : page;
    if (deflate && c.length < PAGE) {
      c.copy(out, pos);
      sizes[i] = c.length;
      flags[i] = FLAG;
      pos += c.length;
    } else {
      page.copy(out, pos);
      sizes[i] = PAGE;
      pos += PAGE;
    }
  }
  parentPort.postMessage({ id: job.id, pages: job.pages, out: job.out, sizes, flags }, [job.pages, job.out, sizes.buffer, flags.buffer]);
});
`;

/**
 * Distinct values among 256 sampled bytes from which a page is taken for random data and stored
 * raw untried. Random bytes give about 162 (σ ≈ 5); text, code and kernel objects well under 100.
 */
export const RANDOM_PAGE_DISTINCT = 150;

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

  /**
   * `randomDistinct`: skip compressing pages with at least this many distinct values among 256
   * sampled bytes (0: always try, as makedumpfile does).
   */
  constructor(threads: number, pageSize: number, flag: number, level: number, randomDistinct = RANDOM_PAGE_DISTINCT) {
    for (let i = 0; i < threads; i++) {
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { pageSize, flag, level, randomDistinct } });
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
      worker.on('exit', (code) => { if (code !== 0) fail(new Error(`exited with code ${code}`)); });
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
    return new Promise<CompressResult>((resolve, reject) => {
      entry.pending.set(id, { resolve, reject });
      entry.worker.postMessage({ id, pages: job.pages, out: job.out, count: job.count, detectZero: job.detectZero }, [job.pages, job.out]);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}
