import type { Worker as BullWorker } from 'bullmq';
import { ConfigError } from '@efikdump/core';
import { parseArgs, commandHelp, type CommandSpec, integerOption } from '../args';
import { pluginsFromCommandLine } from '../container';
import { JobRunner } from '../compare/run-job';
import { DEFAULT_QUEUE, type JobResult, type SweepJob } from '../compare/types';
import type { Output } from '../output';

export const workerSpec: CommandSpec = {
  name: 'worker',
  usage: 'efikdump worker --redis URL [--queue NAME] [--concurrency N] [--lock-ms N] [--verbose]',
  summary: 'Processes compare runs from a BullMQ queue over Redis (for `efikdump compare --backend bullmq`) until SIGINT/SIGTERM.',
  positionals: [0, 0],
  options: [
    { name: 'redis', value: 'URL', help: 'Redis server, e.g. redis://127.0.0.1:6379' },
    { name: 'queue', value: 'NAME', help: 'queue name', default: DEFAULT_QUEUE },
    { name: 'concurrency', value: 'N', help: 'jobs in flight in this process', default: '1' },
    { name: 'lock-ms', value: 'N', help: "job lock; a dead worker's job is retried by another after about this long", default: '10000' },
    {
      name: 'plugin',
      value: 'PKG[,PKG]',
      help: 'load plug-in packages (names or paths) for every job besides those each job carries from its coordinator; also EFIKDUMP_PLUGINS',
    },
    { name: 'verbose', help: 'one stderr line per job started and finished (worker: start ID / worker: done ID)' },
    { name: 'help', help: 'show this help' },
  ],
};

export async function workerCommand(argv: string[], io: Output): Promise<number> {
  const { options } = parseArgs(workerSpec, argv);
  if (options.has('help')) {
    io.out(commandHelp(workerSpec));
    return 0;
  }
  const redis = options.get('redis');
  if (typeof redis !== 'string') throw new ConfigError('--redis URL is required', { field: '--redis' });
  const queueName = typeof options.get('queue') === 'string' ? (options.get('queue') as string) : DEFAULT_QUEUE;
  const concurrency = integerOption(options.get('concurrency'), 'concurrency', 1, 64) ?? 1;
  const lockDuration = integerOption(options.get('lock-ms'), 'lock-ms', 500, 3_600_000) ?? 10_000;

  // Loaded on demand, as in the backend factory: other commands do not pay for bullmq's start-up.

  const { Worker } = require('bullmq') as typeof import('bullmq');
  const { redisConnection } = require('../compare/bullmq.backend') as typeof import('../compare/bullmq.backend');

  const runner = new JobRunner(pluginsFromCommandLine(options.get('plugin')));
  const connection = redisConnection(redis);
  let done = 0;
  const worker: BullWorker<SweepJob, JobResult> = new Worker<SweepJob, JobResult>(queueName, async (job) => runner.run(job.data), {
    connection,
    concurrency,
    lockDuration,
    stalledInterval: Math.max(250, Math.floor(lockDuration / 2)),
    maxStalledCount: 5,
    autorun: false,
  });
  const verbose = options.has('verbose');
  worker.on('active', (job) => {
    if (verbose) io.err(`worker: start ${job.id}`);
  });
  worker.on('completed', (job) => {
    done++;
    if (verbose) io.err(`worker: done ${job.id}`);
  });
  worker.on('failed', (job, err) => io.err(`worker: ${job?.id ?? '?'} failed: ${err.message}`));
  await worker.waitUntilReady();
  io.err(
    `worker: ready on queue ${queueName} at ${redis.replace(/\/\/[^@]*@/, '//***@')} (pid ${process.pid}, concurrency ${concurrency})`,
  );
  const stopped = new Promise<void>((resolve) => {
    const stop = () => {
      void worker.close().then(() => {
        connection.disconnect();
        resolve();
      });
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  void worker.run();
  await stopped;
  io.err(`worker: stopped after ${done} jobs`);
  return 0;
}
