import { injectable } from 'tsyringe';
import type { CrashDetection, CrashDetector, RunContext } from '@efikdump/core';
import { EfiVariableTransport } from '@efikdump/transports';
import { detectionOf } from './discovery';

/** A crashed boot is one with efikdump's handoff variables (EfikdumpHandoff0000…, NV|BS|RT) in the store. */
@injectable()
export class EfiVariableFlagDetector implements CrashDetector {
  readonly name = 'efi-variable-flag';
  /** The transports whose records this detector reads (the handoff variables of the efi-variable transport); a design pairing it with another is refused. */
  static readonly transports: readonly string[] = ['efi-variable'];

  constructor(private readonly variables: EfiVariableTransport) {}

  detect(ctx: RunContext): CrashDetection {
    const d = detectionOf((at) => `handoff variables ${at}`, this.variables.discover(ctx));
    return { ...d, damaged: d.damaged?.map((x) => ({ ...x, source: this.name })) };
  }
}
