import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { jobKey, type BackendProgress, type JobResult, type SweepBackend, type SweepJob } from './types';

/** The compiled worker entry; under ts-jest __dirname is src/, so fall back to the built file. */
function workerScript(): string {
  const beside = join(__dirname, 'thread-worker.js');
  return existsSync(beside) ? beside : resolve(__dirname, '../../dist/compare/thread-worker.js');
}

type Reply = { ok: true; result: JobResult } | { ok: false; job: SweepJob; error: string; name?: string };

/** Runs jobs on a pool of worker threads, each with its own container; one job in flight per worker. */
export class ThreadsBackend implements SweepBackend {
  readonly name = 'threads';
  readonly workers: number;

  constructor(workers?: number) {
    this.workers = Math.max(1, workers ?? availableParallelism());
  }

  async runAll(jobs: SweepJob[], onProgress: BackendProgress): Promise<Map<string, JobResult>> {
    const results = new Map<string, JobResult>();
    if (jobs.length === 0) return results;
    const queue = [...jobs];
    const pool: Worker[] = [];
    try {
      await new Promise<void>((resolveAll, reject) => {
        const feed = (w: Worker) => {
          const job = queue.shift();
          if (job) w.postMessage(job);
        };
        const n = Math.min(this.workers, jobs.length);
        for (let i = 0; i < n; i++) {
          const w = new Worker(workerScript());
          pool.push(w);
          w.on('message', (m: Reply) => {
            if (!m.ok) {
              const err = new Error(`${jobKey(m.job)}: ${m.error}`);
              err.name = m.name ?? 'Error';
              return reject(err);
            }
            results.set(jobKey(m.result), m.result);
            onProgress(results.size, jobs.length);
            if (results.size === jobs.length) resolveAll();
            else feed(w);
          });
          w.on('error', reject);
          w.on('exit', (code) => {
            if (results.size < jobs.length) reject(new Error(`sweep worker thread exited with code ${code} before the sweep finished`));
          });
          feed(w);
        }
      });
    } finally {
      await Promise.all(pool.map((w) => w.terminate()));
    }
    return results;
  }
}
