import { ConfigError } from '@efikdump/core';
import { Queue, type Job } from 'bullmq';
import IORedis from 'ioredis';
import {
  DEFAULT_QUEUE,
  jobKey,
  type BackendProgress,
  type JobResult,
  type SweepBackend,
  type SweepInfo,
  type SweepJob,
  type SweepMatrix,
} from './types';

export { DEFAULT_QUEUE };

/** An ioredis connection as BullMQ wants it (blocking commands need maxRetriesPerRequest: null). */
export function redisConnection(url: string): IORedis {
  if (!/^rediss?:\/\//.test(url)) throw new ConfigError(`--redis expects a redis:// URL, found "${url}"`, { field: '--redis' });
  return new IORedis(url, { maxRetriesPerRequest: null, lazyConnect: false });
}

export interface BullmqOptions {
  redis: string;
  queue?: string;
  /** Attempts per job before the sweep fails (a killed worker's job is recovered as stalled, not counted here). */
  attempts?: number;
  pollMs?: number;
}

/** The Redis key holding a sweep's matrix, for `compare --resume ID`. */
export const sweepKey = (queue: string, id: string): string => `efikdump:sweep:${queue}:${id}`;

/** A job's id in the queue: the sweep id, then design|scenario|seed (BullMQ ids may not contain ':'). */
export const queueJobId = (sweepId: string, j: SweepJob): string => `${sweepId}|${jobKey(j)}`;

const SWEEP_ID = /^[0-9a-f]{16}$/;

/** The matrix a sweep was started with, read back from Redis; a ConfigError when the queue holds no such sweep. */
export async function loadSweepMatrix(redis: string, queue: string, id: string): Promise<SweepMatrix> {
  if (!SWEEP_ID.test(id))
    throw new ConfigError(`--resume expects a sweep id of 16 hex digits (printed when the sweep started), found "${id}"`, {
      field: '--resume',
    });
  const connection = redisConnection(redis);
  try {
    const text = await connection.get(sweepKey(queue, id));
    if (!text) throw new ConfigError(`no sweep ${id} on queue ${queue} at ${redis}`, { field: '--resume' });
    const doc = JSON.parse(text) as { matrix: SweepMatrix };
    return doc.matrix;
  } finally {
    connection.disconnect();
  }
}

/**
 * Enqueues every job on a BullMQ queue with job id `<sweep id>|design|scenario|seed` and gathers
 * the return values. The sweep id digests the matrix and the design and scenario documents, so a
 * job that already exists holds the result this sweep would compute: it is not added twice, and a
 * coordinator that died is resumed by running it again (or `compare --resume ID`, which reads the
 * matrix stored under `efikdump:sweep:<queue>:<id>`) without re-running finished jobs. Completed
 * jobs are the result store. `efikdump worker --redis URL` processes the queue on any machine.
 */
export class BullmqBackend implements SweepBackend {
  readonly name = 'bullmq';
  readonly workers = 0;

  constructor(private readonly opts: BullmqOptions) {}

  async runAll(jobs: SweepJob[], onProgress: BackendProgress, sweep?: SweepInfo): Promise<Map<string, JobResult>> {
    const queueName = this.opts.queue ?? DEFAULT_QUEUE;
    const connection = redisConnection(this.opts.redis);
    const queue = new Queue(queueName, { connection });
    const idOf = (j: SweepJob) => (sweep ? queueJobId(sweep.id, j) : jobKey(j));
    const results = new Map<string, JobResult>();
    try {
      await queue.waitUntilReady();
      if (sweep)
        await connection.set(
          sweepKey(queueName, sweep.id),
          JSON.stringify({ format: 'efikdump-sweep/1', id: sweep.id, matrix: sweep.matrix }),
        );
      // Failed leftovers from an earlier coordinator get a fresh set of attempts; anything else that exists is kept.
      for (const j of jobs) {
        const existing = await queue.getJob(idOf(j));
        if (existing && (await existing.getState()) === 'failed') await existing.retry('failed');
      }
      const attempts = this.opts.attempts ?? 3;
      for (let i = 0; i < jobs.length; i += 500) {
        await queue.addBulk(
          jobs.slice(i, i + 500).map((j) => ({
            name: 'run',
            data: j,
            opts: { jobId: idOf(j), attempts, backoff: { type: 'fixed', delay: 200 }, removeOnComplete: false, removeOnFail: false },
          })),
        );
      }
      const pending = new Map(jobs.map((j) => [idOf(j), jobKey(j)]));
      const pollMs = this.opts.pollMs ?? 100;
      while (pending.size) {
        let progressed = false;
        for (const [id, key] of [...pending]) {
          const job: Job | undefined = await queue.getJob(id);
          if (!job) throw new Error(`job ${id} vanished from queue ${queue.name}`);
          if (job.finishedOn && job.returnvalue) {
            results.set(key, job.returnvalue as JobResult);
            pending.delete(id);
            progressed = true;
          } else if (job.finishedOn && job.failedReason && job.attemptsMade >= attempts) {
            throw new Error(`job ${id} failed after ${job.attemptsMade} attempts: ${job.failedReason}`);
          }
        }
        if (progressed) onProgress(results.size, jobs.length);
        if (pending.size) await new Promise((r) => setTimeout(r, pollMs));
      }
      return results;
    } finally {
      await queue.close();
      connection.disconnect();
    }
  }
}
