import { Lifecycle, type DependencyContainer, type InjectionToken } from 'tsyringe';
import type { constructor } from 'tsyringe/dist/typings/types';
import { ConfigError } from './errors';
import { ALL_SLOTS, type PluginSlotKey } from './contracts';

export interface PluginEntry {
  slot: PluginSlotKey;
  name: string;
  description: string;
  implementation: constructor<unknown>;
}

/**
 * The names every package's `register(container)` makes available, per slot. A design picks one
 * (or, for multiple slots, several) by name; `resolve` is the one place a name becomes a class.
 */
export class PluginCatalog {
  private readonly entries = new Map<PluginSlotKey, Map<string, PluginEntry>>();

  add<T>(slot: PluginSlotKey, name: string, implementation: constructor<T>, description: string): void {
    if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) throw new ConfigError(`plug-in name "${name}" must be kebab-case`);
    let bySlot = this.entries.get(slot);
    if (!bySlot) this.entries.set(slot, (bySlot = new Map()));
    if (bySlot.has(name)) throw new ConfigError(`${slot} "${name}" is registered twice`);
    bySlot.set(name, { slot, name, description, implementation });
  }

  get(slot: PluginSlotKey, name: string, place: { file?: string; field?: string } = {}): PluginEntry {
    const entry = this.entries.get(slot)?.get(name);
    if (!entry) {
      const known = [...(this.entries.get(slot)?.keys() ?? [])].sort();
      throw new ConfigError(`Unknown ${slot}: ${name} (known: ${known.length ? known.join(', ') : 'none registered'})`, place);
    }
    return entry;
  }

  list(slot?: PluginSlotKey): PluginEntry[] {
    const all = [...this.entries.values()].flatMap((m) => [...m.values()]);
    return all.filter((e) => !slot || e.slot === slot).sort((a, b) => a.slot.localeCompare(b.slot) || a.name.localeCompare(b.name));
  }
}

export const PLUGIN_CATALOG: InjectionToken<PluginCatalog> = Symbol('efikdump:plugin-catalog');

/**
 * One copy of this package per process: the tokens and classes of a second copy (a plug-in that
 * installed its own @efikdump/core instead of taking it as a peer) are not the ones the host
 * resolves, so its plug-ins would vanish silently. The first copy loaded claims a process-wide slot;
 * registering through any other copy fails and says so.
 */
const CORE_INSTANCE = Symbol.for('efikdump:core-instance');
const thisCore = { file: __filename };
const processSlot = globalThis as unknown as Record<symbol, { file: string } | undefined>;
if (!processSlot[CORE_INSTANCE]) processSlot[CORE_INSTANCE] = thisCore;

function assertSingleCore(): void {
  const first = processSlot[CORE_INSTANCE];
  if (first && first !== thisCore) {
    throw new ConfigError(`a second copy of @efikdump/core (${thisCore.file}) is registering plug-ins beside the one in use (${first.file}): ` +
      'declare @efikdump/core as a peerDependency of the plug-in package so it shares the host\'s copy');
  }
}

/** The catalog of `container`, created on first use. */
export function catalogOf(container: DependencyContainer): PluginCatalog {
  if (!container.isRegistered(PLUGIN_CATALOG, true)) {
    container.registerInstance(PLUGIN_CATALOG, new PluginCatalog());
  }
  return container.resolve(PLUGIN_CATALOG);
}

/** What a package's `register(container)` calls for each implementation it provides. */
export function registerPlugin<T>(container: DependencyContainer, slot: PluginSlotKey, name: string, implementation: constructor<T>, description: string): void {
  assertSingleCore();
  catalogOf(container).add(slot, name, implementation, description);
}

/** Binds the slot's token in a run's child container to the named implementations. */
export function bindSlot(run: DependencyContainer, catalog: PluginCatalog, slot: PluginSlotKey, names: readonly string[], file?: string, field = `components.${slot}`): void {
  const token = ALL_SLOTS[slot].token as InjectionToken<unknown>;
  for (const name of names) {
    const entry = catalog.get(slot, name, { file, field });
    run.register(token, { useClass: entry.implementation }, { lifecycle: Lifecycle.ContainerScoped });
  }
}
