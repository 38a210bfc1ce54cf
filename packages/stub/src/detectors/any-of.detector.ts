import { inject, injectable, type DependencyContainer } from 'tsyringe';
import {
  PLUGIN_CATALOG,
  resolveComponent,
  RUN_CONTAINER,
  TRANSPORT,
  type CrashDetection,
  type CrashDetector,
  type DamagedHandoff,
  type HandoffCandidate,
  type HandoffTransport,
  type PluginCatalog,
  type RunContext,
} from '@efikdump/core';
import { TransportDiscoveryDetector } from './transport-discovery.detector';

/**
 * Every other registered detector (the plug-in catalog's, resolved in the run's container with
 * their default options), in the catalog's order: their candidates go to the stub in that order and the first valid record
 * wins. A record two detectors found (the same bytes) is offered once. `transport-discovery` joins
 * only when no other member reads the design's transport (none lists it in its static
 * `transports`): a transport from a plug-in package is then still asked for its record.
 */
@injectable()
export class AnyOfDetector implements CrashDetector {
  readonly name = 'any-of';

  constructor(
    @inject(PLUGIN_CATALOG) private readonly catalog: PluginCatalog,
    @inject(RUN_CONTAINER) private readonly run: DependencyContainer,
    @inject(TRANSPORT) private readonly transport: HandoffTransport,
  ) {}

  /** The detectors this one combines. */
  members(): CrashDetector[] {
    const others = this.catalog
      .list('detector')
      .filter((e) => e.name !== this.name && e.name !== 'none' && e.implementation !== AnyOfDetector);
    const readByAnother = others.some((e) =>
      (e.implementation as { transports?: readonly string[] }).transports?.includes(this.transport.name),
    );
    return others
      .filter((e) => !(readByAnother && e.implementation === TransportDiscoveryDetector))
      .map((e) => resolveComponent<CrashDetector>(this.run, 'detector', e.name));
  }

  detect(ctx: RunContext): CrashDetection {
    const candidates: HandoffCandidate[] = [];
    const damaged: DamagedHandoff[] = [];
    const notes: string[] = [];
    const reasons: string[] = [];
    const evidence: string[] = [];
    const seen = new Set<string>();
    for (const d of this.members()) {
      const r = d.detect(ctx);
      notes.push(...(r.notes ?? []).map((n) => `${d.name}: ${n}`));
      for (const x of r.damaged ?? []) if (!damaged.some((y) => y.reason === x.reason)) damaged.push(x);
      if (!r.crashed) {
        reasons.push(`${d.name}: ${r.reason}`);
        continue;
      }
      evidence.push(`${d.name}: ${r.evidence}`);
      for (const c of r.candidates) {
        const key = Buffer.from(c.record).toString('base64');
        if (seen.has(key)) continue;
        seen.add(key);
        candidates.push({ ...c, source: `${d.name}/${c.source}` });
      }
    }
    const extra = { ...(damaged.length ? { damaged } : {}), ...(notes.length ? { notes } : {}) };
    if (candidates.length) return { crashed: true, evidence: evidence.join('; '), candidates, ...extra };
    return { crashed: false, reason: reasons.join('; ') || 'no other detector is registered', ...extra };
  }
}
