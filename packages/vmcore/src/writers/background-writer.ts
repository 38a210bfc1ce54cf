import { Worker } from 'node:worker_threads';
import { IoError, MiB } from '@efikdump/core/base';

/**
 * The writer thread's code, evaluated as a script (it must run from the compiled package and under
 * ts-jest alike): it opens the file once and writes each batch's runs with positional writes.
 */
const WRITER_SOURCE = String.raw`
const { parentPort, workerData } = require('node:worker_threads');
const { openSync, writeSync, closeSync } = require('node:fs');
let fd;
parentPort.on('message', (m) => {
  if (m.close) {
    if (fd !== undefined) closeSync(fd);
    parentPort.postMessage({ closed: true });
    return;
  }
  const buf = new Uint8Array(m.buf);
  const runs = m.runs;
  let i = 0;
  try {
    if (fd === undefined) fd = openSync(workerData.path, 'r+');
    for (; i < runs.length; i += 3) {
      const at = runs[i], length = runs[i + 1], position = runs[i + 2];
      let done = 0;
      while (done < length) done += writeSync(fd, buf, at + done, length - done, position + done);
    }
    parentPort.postMessage({ buf: m.buf }, [m.buf]);
  } catch (e) {
    parentPort.postMessage({ buf: m.buf, error: e.message, position: runs[i + 2] }, [m.buf]);
  }
});
`;

/**
 * Gathers data bound for increasing, possibly discontiguous file positions into large buffers and
 * writes them on a worker thread, so that the caller keeps reading and deciding while the kernel
 * copies (a sparse output needs one write per run of data: tens of thousands when zero pages are
 * scattered). `append` copies and never blocks; `throttle` bounds the buffers in flight (call it
 * between chunks of work); `finish` waits for every write and closes the writer's descriptor.
 * The file must exist: the writer opens `path` for writing without creating or truncating it.
 */
export class BackgroundWriter {
  private readonly worker: Worker;
  private readonly free: ArrayBuffer[] = [];
  private cur: Uint8Array;
  private used = 0;
  /** [offset in cur, length, file position] of each run gathered in `cur`. */
  private runs: number[] = [];
  private inflight = 0;
  private waiters: (() => void)[] = [];
  private error: Error | undefined;
  /** Bytes handed to `append`. */
  dataBytes = 0;

  constructor(
    readonly path: string,
    private readonly bufferBytes = 4 * MiB,
    private readonly maxInflight = 4,
  ) {
    this.worker = new Worker(WRITER_SOURCE, { eval: true, workerData: { path } });
    this.worker.on('message', (m: { buf?: ArrayBuffer; error?: string; position?: number }) => {
      if (!m.buf) return;
      this.inflight--;
      if (m.error) this.error ??= new IoError(`write failed: ${m.error}`, { file: path, offset: m.position });
      this.free.push(m.buf);
      this.wake();
    });
    const fail = (e: Error) => {
      this.error ??= new IoError(`writer thread failed: ${e.message}`, { file: path });
      this.inflight = 0;
      this.wake();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => {
      if (code !== 0) fail(new Error(`exited with code ${code}`));
    });
    this.cur = new Uint8Array(bufferBytes);
  }

  /** Queues `bytes` for file position `position` (after everything appended before it). */
  append(bytes: Uint8Array, position: number): void {
    if (bytes.length > this.bufferBytes) {
      for (let o = 0; o < bytes.length; o += this.bufferBytes) this.append(bytes.subarray(o, o + this.bufferBytes), position + o);
      return;
    }
    if (this.used + bytes.length > this.cur.length) this.issue();
    const n = this.runs.length;
    if (n && this.runs[n - 3] + this.runs[n - 2] === this.used && this.runs[n - 1] + this.runs[n - 2] === position) {
      this.runs[n - 2] += bytes.length;
    } else {
      this.runs.push(this.used, bytes.length, position);
    }
    this.cur.set(bytes, this.used);
    this.used += bytes.length;
    this.dataBytes += bytes.length;
  }

  /** Waits while more than `maxInflight` buffers are being written; rethrows a failed write. */
  async throttle(): Promise<void> {
    while (this.inflight > this.maxInflight && !this.error) await new Promise<void>((resolve) => this.waiters.push(resolve));
    if (this.error) throw this.error;
  }

  /** Writes what is gathered, waits for every write, closes the writer's descriptor and stops the thread. */
  async finish(): Promise<void> {
    try {
      if (this.used) this.issue();
      while (this.inflight > 0 && !this.error) await new Promise<void>((resolve) => this.waiters.push(resolve));
      if (this.error) throw this.error;
      await new Promise<void>((resolve) => {
        const onClosed = (m: { closed?: boolean }) => {
          if (!m.closed) return;
          this.worker.off('message', onClosed);
          resolve();
        };
        this.worker.on('message', onClosed);
        this.worker.postMessage({ close: true });
      });
    } finally {
      await this.worker.terminate();
    }
  }

  /** Stops the thread without waiting for pending writes (the output is being abandoned). */
  async abort(): Promise<void> {
    await this.worker.terminate();
  }

  private issue(): void {
    const buf = this.cur.buffer as ArrayBuffer;
    const runs = Float64Array.from(this.runs);
    this.inflight++;
    this.worker.postMessage({ buf, runs }, [buf]);
    const next = this.free.pop();
    this.cur = next ? new Uint8Array(next) : new Uint8Array(this.bufferBytes);
    this.used = 0;
    this.runs = [];
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
