import { inject, injectable } from 'tsyringe';
import { TRANSPORT, type CrashDetector, type HandoffInfo, type HandoffTransport, type RunContext } from '@efikdump/core';

/** A crashed boot is one whose reserved-memory slot holds a valid record marked crashed. */
@injectable()
export class ReservedMemoryMagicDetector implements CrashDetector {
  readonly name = 'reserved-memory-magic';

  constructor(@inject(TRANSPORT) private readonly transport: HandoffTransport) {}

  detect(ctx: RunContext): { crashed: true; info: HandoffInfo; evidence: string } | { crashed: false; reason: string } {
    const found = this.transport.discover(ctx);
    if (!found.found) return { crashed: false, reason: found.reason };
    return { crashed: true, info: found.info, evidence: `${this.transport.name} record at ${found.location}` };
  }
}
