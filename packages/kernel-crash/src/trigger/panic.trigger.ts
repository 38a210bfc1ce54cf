import { injectable } from 'tsyringe';
import type { CrashTrigger, RouteInput, StageOperator } from '@efikdump/core';

/** A genuine crash: the 1st kernel panics (the kernel plug-in's panic path), then the design's exit takes the machine out. */
@injectable()
export class PanicTrigger implements CrashTrigger {
  readonly name = 'panic';

  stages(input: RouteInput): StageOperator[] {
    return [input.kernel.panic()];
  }
}
