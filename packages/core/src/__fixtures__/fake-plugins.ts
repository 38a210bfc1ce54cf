import { injectable } from 'tsyringe';
import type { ExitStrategy, RetentionPolicy, RetentionReport, StageOperator } from '../contracts';
import type { RunContext } from '../context';
import { Engine } from './engine';

/** Exit strategies and retention policies that do nothing, for catalog and scope tests. */
@injectable()
export class ReturnExit implements ExitStrategy {
  readonly name = 'return-exit';
  readonly stubDecides = false;
  constructor(readonly engine: Engine) {}
  leave(): StageOperator {
    return (source) => source;
  }
  route(): StageOperator[] {
    return [this.leave()];
  }
}

@injectable()
export class ResetExit implements ExitStrategy {
  readonly name = 'reset-exit';
  readonly stubDecides = true;
  leave(): StageOperator {
    return (source) => source;
  }
  route(): StageOperator[] {
    return [this.leave()];
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
