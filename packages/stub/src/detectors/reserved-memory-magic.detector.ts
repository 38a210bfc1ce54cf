import { injectable } from 'tsyringe';
import type { CrashDetection, CrashDetector, RunContext } from '@efikdump/core';
import { FdtTransport, ReservedMemoryTransport } from '@efikdump/transports';
import { detectionOf } from './discovery';

/**
 * A crashed boot is one whose handoff page (the first page of the reservation crashkernel= places)
 * holds something of ours by its magic: the persistent zone's signature (`reserved-memory`) or a
 * handoff device tree's 0xd00dfeed (`fdt`). The stub validates what it holds.
 */
@injectable()
export class ReservedMemoryMagicDetector implements CrashDetector {
  readonly name = 'reserved-memory-magic';
  /** The transports whose records this detector reads (the record in the reserved region (reserved-memory transport) or its device tree blob (fdt)); a design pairing it with another is refused. */
  static readonly transports: readonly string[] = ['reserved-memory', 'fdt'];

  constructor(
    private readonly zone: ReservedMemoryTransport,
    private readonly fdt: FdtTransport,
  ) {}

  detect(ctx: RunContext): CrashDetection {
    const zone = this.zone.discover(ctx);
    if (zone.found || zone.damage) return this.tag(detectionOf((at) => `persistent zone at ${at}`, zone));
    return this.tag(detectionOf((at) => `handoff device tree at ${at}`, zone, this.fdt.discover(ctx)));
  }

  private tag(d: CrashDetection): CrashDetection {
    return { ...d, damaged: d.damaged?.map((x) => ({ ...x, source: this.name })) };
  }
}
