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

/** A transport that can look in BERT's boot error region alone, besides its own discovery (acpi-erst's `discoverInBert`). */
interface BertDiscovery {
  discoverInBert(ctx: RunContext): HandoffDiscovery;
}

const looksInBert = (t: HandoffTransport): t is HandoffTransport & BertDiscovery =>
  typeof (t as Partial<BertDiscovery>).discoverInBert === 'function';

/**
 * A crashed boot is one whose BERT boot error region (ACPI §18.3.1) holds a Generic Error Data
 * Entry of efikdump's section type: the firmware republished the CPER record the crashed kernel
 * wrote through ERST. BERT only: firmware that does not republish leaves it empty.
 */
@injectable()
export class BertRecordDetector implements CrashDetector {
  readonly name = 'bert-record';
  /** The transports whose records this detector reads (the ERST/BERT record of the acpi-erst transport); a design pairing it with another is refused. */
  static readonly transports: readonly string[] = ['acpi-erst'];

  private readonly acpi?: HandoffTransport;

  constructor(
    @inject(TRANSPORT) design: HandoffTransport,
    @inject(PLUGIN_CATALOG) catalog: PluginCatalog,
    @inject(RUN_CONTAINER) run: DependencyContainer,
  ) {
    this.acpi = transportsRead(BertRecordDetector.transports, design, catalog, run).get('acpi-erst');
  }

  detect(ctx: RunContext): CrashDetection {
    if (!this.acpi) return notLoaded(BertRecordDetector.transports);
    if (!looksInBert(this.acpi))
      return { crashed: false, reason: `the ${this.acpi.name} transport loaded here cannot look in BERT alone (no discoverInBert)` };
    return creditedTo(
      this.name,
      detectionOf((at) => `CPER section in ${at}`, this.acpi.discoverInBert(ctx)),
    );
  }
}
