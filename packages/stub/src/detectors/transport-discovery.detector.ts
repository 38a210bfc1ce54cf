import { inject, injectable } from 'tsyringe';
import { TRANSPORT, type CrashDetection, type CrashDetector, type HandoffTransport, type RunContext } from '@efikdump/core';
import { detectionOf } from './discovery';
import { creditedTo } from './transports-read';

/**
 * A crashed boot is one in which the design's transport finds its record: the detector asks the
 * transport in the design's TRANSPORT slot to discover (`HandoffTransport.discover`) and reports
 * what it found, as the built-in detectors do (`detectionOf`). It knows no transport, so it reads
 * any, built-in or from a plug-in package: it has no `transports` list and is paired with every
 * transport. A transport that stores nothing for the next boot (`cmdline`, `none`) says so in its
 * discovery, and no boot is a crashed one.
 */
@injectable()
export class TransportDiscoveryDetector implements CrashDetector {
  readonly name = 'transport-discovery';

  constructor(@inject(TRANSPORT) private readonly transport: HandoffTransport) {}

  detect(ctx: RunContext): CrashDetection {
    return creditedTo(
      this.name,
      detectionOf((at) => `${this.transport.name} record at ${at}`, this.transport.discover(ctx)),
    );
  }
}
