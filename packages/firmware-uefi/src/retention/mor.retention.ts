import { injectable } from 'tsyringe';
import type { RetentionPolicy, RetentionReport, RunContext } from '@efikdump/core';
import { firmwareOf, overwrite, unchanged } from './retention-support';
import { VariableStore } from '../variables/variable-store';
import { MEMORY_OVERWRITE_CONTROL_GUID, MOR_CLEAR_MEMORY, MOR_NAME } from '../variables/well-known';

/**
 * TCG Platform Reset Attack Mitigation (domain reference §5.8): when MemoryOverwriteRequestControl
 * has ClearMemory (bit 0) set at a reset, firmware overwrites all RAM before the next OS boots.
 * The firmware clears the bit afterwards, at ReadyToBoot.
 */
@injectable()
export class MorRetention implements RetentionPolicy {
  readonly name = 'mor';

  apply(ctx: RunContext): RetentionReport {
    const fw = firmwareOf(ctx, this.name);
    const mor = new VariableStore(fw.nvram, fw.profile).find(MOR_NAME, MEMORY_OVERWRITE_CONTROL_GUID);
    if (!mor || mor.record.data.length < 1 || !(mor.record.data[0] & MOR_CLEAR_MEMORY)) return unchanged(this.name);
    return overwrite(ctx, this.name, ctx.machine.memory.ram, 'zero', 'MOR ClearMemory');
  }
}
