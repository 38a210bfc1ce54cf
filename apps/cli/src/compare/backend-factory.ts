import { ConfigError } from '@efikdump/core';
import { LocalBackend } from './local.backend';
import { ThreadsBackend } from './threads.backend';
import type { SweepBackend } from './types';

export const BACKENDS = ['local', 'threads', 'bullmq'] as const;
export type BackendName = (typeof BACKENDS)[number];

/** The one place a backend is chosen by name; unknown names list the known ones. */
export function createBackend(name: string, opts: { workers?: number; redis?: string; queue?: string }): SweepBackend {
  switch (name) {
    case 'local':
      return new LocalBackend();
    case 'threads':
      return new ThreadsBackend(opts.workers);
    case 'bullmq': {
      if (!opts.redis) throw new ConfigError('--backend bullmq needs --redis URL', { field: '--redis' });
      // Loaded on demand: bullmq and ioredis cost ~0.4 s of start-up that other commands should not pay.

      const { BullmqBackend } = require('./bullmq.backend') as typeof import('./bullmq.backend');
      return new BullmqBackend({ redis: opts.redis, queue: opts.queue });
    }
    default:
      throw new ConfigError(`Unknown backend: ${name} (known: ${BACKENDS.join(', ')})`, { field: '--backend' });
  }
}
