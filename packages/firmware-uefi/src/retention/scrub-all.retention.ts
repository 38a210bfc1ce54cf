import { injectable } from 'tsyringe';
import type { RetentionPolicy, RetentionReport, RunContext } from '@efikdump/core';
import { overwrite } from './retention-support';

/** Firmware clears all RAM on every reset (a full memory test, domain reference §5.9). */
@injectable()
export class ScrubAllRetention implements RetentionPolicy {
  readonly name = 'scrub-all';

  apply(ctx: RunContext): RetentionReport {
    return overwrite(ctx, this.name, ctx.machine.memory.ram, 'zero', 'scrubbed by firmware');
  }
}
