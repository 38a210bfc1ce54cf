import 'reflect-metadata';
import { parentPort } from 'node:worker_threads';
import { createContainer } from '../container';
import { JobRunner } from './run-job';
import type { SweepJob } from './types';

/** Worker-thread entry: builds its own container, runs each job it is sent, posts the result back. */
if (parentPort) {
  const port = parentPort;
  const runner = new JobRunner(createContainer());
  port.on('message', (job: SweepJob) => {
    runner.run(job).then(
      (result) => port.postMessage({ ok: true, result }),
      (e: unknown) => port.postMessage({ ok: false, job, error: (e as Error)?.message ?? String(e), name: (e as Error)?.name }),
    );
  });
}
