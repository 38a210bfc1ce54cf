import { inject, injectable, type DependencyContainer } from 'tsyringe';
import {
  PLUGIN_CATALOG,
  RUN_CONTAINER,
  TRANSPORT,
  type CrashDetection,
  type CrashDetector,
  type HandoffTransport,
  type PluginCatalog,
  type RunContext,
} from '@efikdump/core';
import { detectionOf } from './discovery';
import { creditedTo, notLoaded, transportsRead } from './transports-read';

/** A crashed boot is one with efikdump's handoff variables (EfikdumpHandoff0000…, NV|BS|RT) in the store. */
@injectable()
export class EfiVariableFlagDetector implements CrashDetector {
  readonly name = 'efi-variable-flag';
  /** The transports whose records this detector reads (the handoff variables of the efi-variable transport); a design pairing it with another is refused. */
  static readonly transports: readonly string[] = ['efi-variable'];

  private readonly variables?: HandoffTransport;

  constructor(
    @inject(TRANSPORT) design: HandoffTransport,
    @inject(PLUGIN_CATALOG) catalog: PluginCatalog,
    @inject(RUN_CONTAINER) run: DependencyContainer,
  ) {
    this.variables = transportsRead(EfiVariableFlagDetector.transports, design, catalog, run).get('efi-variable');
  }

  detect(ctx: RunContext): CrashDetection {
    if (!this.variables) return notLoaded(EfiVariableFlagDetector.transports);
    return creditedTo(
      this.name,
      detectionOf((at) => `handoff variables ${at}`, this.variables.discover(ctx)),
    );
  }
}
