import type { DependencyContainer } from 'tsyringe';
import { resolveComponent, type CrashDetection, type HandoffTransport, type PluginCatalog } from '@efikdump/core';

/**
 * The transports a transport-specific detector reads, by the names of its static `transports` list,
 * in that order. Each is the design's own transport (the TRANSPORT slot) when the design names it;
 * any other (the design pairs the detector with another transport: `any-of` asks every detector
 * whatever the design's transport, and `createRun` does not check pairing) is the plug-in the run's
 * catalog registers under that name, made for the run with its default options. Discovery reads
 * only the next boot's machine, so either answers the same. A name no loaded package registers is
 * left out. No transport class is imported: a detector reaches transports through the slot and the
 * catalog only.
 */
export function transportsRead(
  names: readonly string[],
  design: HandoffTransport,
  catalog: PluginCatalog,
  run: DependencyContainer,
): Map<string, HandoffTransport> {
  const loaded = new Set(catalog.list('transport').map((e) => e.name));
  const out = new Map<string, HandoffTransport>();
  for (const name of names) {
    if (design.name === name) out.set(name, design);
    else if (loaded.has(name)) out.set(name, resolveComponent<HandoffTransport>(run, 'transport', name));
  }
  return out;
}

/** A detection when no transport the detector reads is loaded in this run (no package registers them). */
export function notLoaded(names: readonly string[]): CrashDetection {
  const one = names.length === 1;
  return {
    crashed: false,
    reason: `the ${names.join(' and ')} transport${one ? ' is' : 's are'} not loaded (no plug-in package registers ${one ? 'it' : 'them'})`,
  };
}

/** `d` with its damaged handoffs credited to the detector `source` (the built-in detectors' way). */
export function creditedTo(source: string, d: CrashDetection): CrashDetection {
  return { ...d, damaged: d.damaged?.map((x) => ({ ...x, source })) };
}
