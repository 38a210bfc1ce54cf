import { inject, injectable, type DependencyContainer } from 'tsyringe';
import {
  PLUGIN_CATALOG,
  RUN_CONTAINER,
  TRANSPORT,
  type CrashDetection,
  type CrashDetector,
  type HandoffDiscovery,
  type HandoffTransport,
  type PluginCatalog,
  type RunContext,
} from '@efikdump/core';
import { detectionOf } from './discovery';
import { creditedTo, notLoaded, transportsRead } from './transports-read';

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

  private readonly zone?: HandoffTransport;
  private readonly fdt?: HandoffTransport;

  constructor(
    @inject(TRANSPORT) design: HandoffTransport,
    @inject(PLUGIN_CATALOG) catalog: PluginCatalog,
    @inject(RUN_CONTAINER) run: DependencyContainer,
  ) {
    const read = transportsRead(ReservedMemoryMagicDetector.transports, design, catalog, run);
    this.zone = read.get('reserved-memory');
    this.fdt = read.get('fdt');
  }

  detect(ctx: RunContext): CrashDetection {
    if (!this.zone && !this.fdt) return notLoaded(ReservedMemoryMagicDetector.transports);
    const zone = this.zone?.discover(ctx);
    if (zone && (zone.found || zone.damage))
      return creditedTo(
        this.name,
        detectionOf((at) => `persistent zone at ${at}`, zone),
      );
    const found = [zone, this.fdt?.discover(ctx)].filter((d): d is HandoffDiscovery => d !== undefined);
    return creditedTo(
      this.name,
      detectionOf((at) => `handoff device tree at ${at}`, ...found),
    );
  }
}
