import 'reflect-metadata';
import { parentPort } from 'node:worker_threads';
import { JobRunner } from './run-job';
import type { SweepJob } from './types';

/** Worker-thread entry: runs each job it is sent (in containers with the job's plug-ins), posts the result back. */
if (parentPort) {
  const port = parentPort;
  const runner = new JobRunner();
  port.on('message', (job: SweepJob) => {
    runner.run(job).then(
      (result) => port.postMessage({ ok: true, result }),
      (e: unknown) => port.postMessage({ ok: false, job, error: (e as Error)?.message ?? String(e), name: (e as Error)?.name }),
    );
  });
}
