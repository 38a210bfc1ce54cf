import { injectable } from 'tsyringe';
import type { RetentionPolicy, RetentionReport } from '@efikdump/core';

/** Memory survives the reset untouched: DRAM stays in self-refresh and firmware uses no old RAM. */
@injectable()
export class RetainAllRetention implements RetentionPolicy {
  readonly name = 'retain-all';

  apply(): RetentionReport {
    return { policy: this.name, changedRanges: [], changedPages: 0 };
  }
}
