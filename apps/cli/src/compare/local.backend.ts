import { JobRunner } from './run-job';
import { jobKey, type BackendProgress, type JobResult, type SweepBackend, type SweepJob } from './types';

/** Runs every job in this process, one after another. */
export class LocalBackend implements SweepBackend {
  readonly name = 'local';
  readonly workers = 1;

  async runAll(jobs: SweepJob[], onProgress: BackendProgress): Promise<Map<string, JobResult>> {
    const runner = new JobRunner();
    const results = new Map<string, JobResult>();
    for (const job of jobs) {
      results.set(jobKey(job), await runner.run(job));
      onProgress(results.size, jobs.length);
    }
    return results;
  }
}
