import { ConfigError } from '@efikdump/core';
import { Queue, type Job } from 'bullmq';
import IORedis from 'ioredis';
import { DEFAULT_QUEUE, jobKey, type BackendProgress, type JobResult, type SweepBackend, type SweepJob } from './types';


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

/**
 * Enqueues every job on a BullMQ queue with job id design|scenario|seed and gathers the return
 * values. A job that already exists (from an earlier or interrupted coordinator) is not added twice,
 * so the coordinator can be restarted and resumes; completed jobs are kept as the result store.
 * `efikdump worker --redis URL` processes the queue on any number of machines.
 */
export class BullmqBackend implements SweepBackend {
  readonly name = 'bullmq';
  readonly workers = 0;

  constructor(private readonly opts: BullmqOptions) {}

  async runAll(jobs: SweepJob[], onProgress: BackendProgress): Promise<Map<string, JobResult>> {
    const connection = redisConnection(this.opts.redis);
    const queue = new Queue(this.opts.queue ?? DEFAULT_QUEUE, { connection });
    const results = new Map<string, JobResult>();
    try {
      await queue.waitUntilReady();
      // Failed leftovers from an earlier coordinator get a fresh set of attempts; anything else that exists is kept.
      for (const j of jobs) {
        const existing = await queue.getJob(jobKey(j));
        if (existing && (await existing.getState()) === 'failed') await existing.retry('failed');
      }
      const attempts = this.opts.attempts ?? 3;
      for (let i = 0; i < jobs.length; i += 500) {
        await queue.addBulk(jobs.slice(i, i + 500).map((j) => ({
          name: 'run',
          data: j,
          opts: { jobId: jobKey(j), attempts, backoff: { type: 'fixed', delay: 200 }, removeOnComplete: false, removeOnFail: false },
        })));
      }
      const pending = new Set(jobs.map(jobKey));
      const pollMs = this.opts.pollMs ?? 100;
      while (pending.size) {
        let progressed = false;
        for (const id of [...pending]) {
          const job: Job | undefined = await queue.getJob(id);
          if (!job) throw new Error(`job ${id} vanished from queue ${queue.name}`);
          if (job.finishedOn && job.returnvalue) {
            results.set(id, job.returnvalue as JobResult);
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
