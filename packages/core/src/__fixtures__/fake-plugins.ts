import { injectable } from 'tsyringe';
import type { ExitStrategy, RetentionPolicy, RetentionReport, StageOperator } from '../contracts';
import type { RunContext } from '../context';
import { Engine } from './engine';

/** Exit strategies and retention policies that do nothing, for catalog and scope tests. */
@injectable()
export class ReturnExit implements ExitStrategy {
  readonly name = 'return-exit';
  readonly path = 'kexec' as const;
  constructor(readonly engine: Engine) {}
  operator(): StageOperator {
    return (source) => source;
  }
}

@injectable()
export class ResetExit implements ExitStrategy {
  readonly name = 'reset-exit';
  readonly path = 'firmware-reset' as const;
  operator(): StageOperator {
    return (source) => source;
  }
}

@injectable()
export class KeepEverything implements RetentionPolicy {
  readonly name = 'keep-everything';
  apply(_ctx: RunContext, _reset: 'warm' | 'cold'): RetentionReport {
    return { policy: this.name, changedRanges: [], changedPages: 0 };
  }
}

@injectable()
export class ScrubEverything implements RetentionPolicy {
  readonly name = 'scrub-everything';
  apply(_ctx: RunContext, _reset: 'warm' | 'cold'): RetentionReport {
    return { policy: this.name, changedRanges: [], changedPages: 0 };
  }
}
