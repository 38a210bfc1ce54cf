import { injectable } from 'tsyringe';
import type { RetentionPolicy, RetentionReport, RunContext } from '@efikdump/core';
import { firmwareOf, overwrite, unchanged } from './retention-support';

/** The memory controller writes all RAM to initialise ECC check bits: on cold resets, or on every reset, as the profile says (domain reference §5.9). */
@injectable()
export class EccReinitRetention implements RetentionPolicy {
  readonly name = 'ecc-reinit';

  apply(ctx: RunContext, reset: 'warm' | 'cold'): RetentionReport {
    const when = firmwareOf(ctx, this.name).profile.eccReinit;
    if (when === 'never' || (when === 'cold' && reset === 'warm')) return unchanged(this.name);
    return overwrite(ctx, this.name, ctx.machine.memory.ram, 'zero', 'ECC initialisation');
  }
}
