import type { DependencyContainer, InjectionToken } from 'tsyringe';
import type { constructor } from 'tsyringe/dist/typings/types';
import { ConfigError } from './errors';
import { ALL_SLOTS, RUN_CONTAINER, SLOT_KEYS, type PluginSlotKey } from './contracts';
import { checkOptionsSchema, resolveOptions, type ComponentOptions, type OptionsSchema } from './config/component-options';
import { componentRefsOf, type ComponentRef, type Design } from './config/design';

export interface PluginEntry {
  slot: PluginSlotKey;
  name: string;
  description: string;
  implementation: constructor<unknown>;
  /** The options the plug-in takes (none when absent). */
  options?: OptionsSchema;
}

/** What `registerPlugin` takes besides the class and its description. */
export interface PluginDeclaration {
  /** The options a design may give this component (`{"name": ..., "options": {...}}`), checked at load time. */
  options?: OptionsSchema;
}

/**
 * The options of the component being constructed, validated against its plug-in's schema with the
 * defaults filled in: `constructor(@inject(COMPONENT_OPTIONS) options: OptionsOf<typeof SCHEMA>)`.
 * Registered in the component's own child container of the run (see `bindSlot`), so each
 * component — two retention policies of one run too — receives its own.
 */
export const COMPONENT_OPTIONS: InjectionToken<ComponentOptions> = Symbol('efikdump:component-options');

/**
 * The names every package's `register(container)` makes available, per slot. A design picks one
 * (or, for multiple slots, several) by name; `resolve` is the one place a name becomes a class.
 */
export class PluginCatalog {
  private readonly entries = new Map<PluginSlotKey, Map<string, PluginEntry>>();

  add<T>(
    slot: PluginSlotKey,
    name: string,
    implementation: constructor<T>,
    description: string,
    declaration: PluginDeclaration = {},
  ): void {
    if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) throw new ConfigError(`plug-in name "${name}" must be kebab-case`);
    if (declaration.options) checkOptionsSchema(declaration.options, `${slot} "${name}"`);
    let bySlot = this.entries.get(slot);
    if (!bySlot) this.entries.set(slot, (bySlot = new Map()));
    if (bySlot.has(name)) throw new ConfigError(`${slot} "${name}" is registered twice`);
    bySlot.set(name, { slot, name, description, implementation, ...(declaration.options ? { options: declaration.options } : {}) });
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
    throw new ConfigError(
      `a second copy of @efikdump/core (${thisCore.file}) is registering plug-ins beside the one in use (${first.file}): ` +
        "declare @efikdump/core as a peerDependency of the plug-in package so it shares the host's copy",
    );
  }
}

/** The catalog of `container`, created on first use. */
export function catalogOf(container: DependencyContainer): PluginCatalog {
  if (!container.isRegistered(PLUGIN_CATALOG, true)) {
    container.registerInstance(PLUGIN_CATALOG, new PluginCatalog());
  }
  return container.resolve(PLUGIN_CATALOG);
}

/**
 * What a package's `register(container)` calls for each implementation it provides; a plug-in that
 * takes options declares their schema in `declaration.options`.
 */
export function registerPlugin<T>(
  container: DependencyContainer,
  slot: PluginSlotKey,
  name: string,
  implementation: constructor<T>,
  description: string,
  declaration?: PluginDeclaration,
): void {
  assertSingleCore();
  catalogOf(container).add(slot, name, implementation, description, declaration);
}

/** A component as code names it: a plug-in name, or a reference with options and where it was written. */
export type ComponentName = string | ComponentRef;

const refOf = (c: ComponentName): ComponentRef => (typeof c === 'string' ? { name: c } : c);

/**
 * The plug-in a reference names and its options checked against the plug-in's schema (defaults
 * filled in). Errors name `ref.file` (else `file`) and the field: `components.writer` for an
 * unknown name, `components.writer.options.dumpLevel` for a bad option.
 */
export function checkComponent(
  catalog: PluginCatalog,
  slot: PluginSlotKey,
  c: ComponentName,
  file?: string,
  field = `components.${slot}`,
): { entry: PluginEntry; options: ComponentOptions } {
  const ref = refOf(c);
  const place = { file: ref.file ?? file, field: ref.field ?? field };
  const entry = catalog.get(slot, ref.name, place);
  return { entry, options: resolveOptions(entry.options, ref.options, { file: place.file, field: `${place.field}.options` }, ref.name) };
}

/**
 * Every component of a design against the loaded plug-ins: each name is known in its slot and its
 * options fit the plug-in's schema. The design loader calls it, so a bad design fails (exit 2)
 * before any run starts.
 */
export function checkComponents(catalog: PluginCatalog, design: Pick<Design, 'components' | 'componentOptions' | 'source'>): void {
  for (const slot of SLOT_KEYS) for (const ref of componentRefsOf(design, slot)) checkComponent(catalog, slot, ref, design.source);
}

/**
 * Constructs `implementation` for the run `run` in a child container of its own that holds the
 * component's options (COMPONENT_OPTIONS); everything else it injects comes from the run.
 */
function construct(run: DependencyContainer, implementation: constructor<unknown>, options: ComponentOptions): unknown {
  const own = run.createChildContainer();
  own.registerInstance(COMPONENT_OPTIONS, options);
  return own.resolve(implementation);
}

/**
 * One instance of a component for the run, made when first resolved (the order of a run's first
 * resolutions is the order of construction, as the runner relies on) and shared by every later
 * resolution in the run. Registered as a factory rather than a container-scoped class: a
 * container-scoped registration would be copied into each component's own child container and
 * built again there.
 */
function oncePerRun(run: DependencyContainer, implementation: constructor<unknown>, options: ComponentOptions): () => unknown {
  let made: { instance: unknown } | undefined;
  return () => (made ??= { instance: construct(run, implementation, options) }).instance;
}

/**
 * Binds the slot's token in a run's child container to the named implementations, each with its
 * options (checked here too: a design built in code gets the same errors as one read from a file).
 * Also makes RUN_CONTAINER resolve to `run` if nothing registered it yet.
 */
export function bindSlot(
  run: DependencyContainer,
  catalog: PluginCatalog,
  slot: PluginSlotKey,
  names: readonly ComponentName[],
  file?: string,
  field = `components.${slot}`,
): void {
  const token = ALL_SLOTS[slot].token as InjectionToken<unknown>;
  if (!run.isRegistered(RUN_CONTAINER)) run.registerInstance(RUN_CONTAINER, run);
  for (const name of names) {
    const { entry, options } = checkComponent(catalog, slot, name, file, field);
    run.register(token, { useFactory: oncePerRun(run, entry.implementation, options) });
  }
}

/**
 * A component resolved for the run outside its slot's token: a policy a firmware profile lists,
 * the detectors `any-of` combines. A new instance, with its options checked and filled in.
 */
export function resolveComponent<T = unknown>(
  run: DependencyContainer,
  slot: PluginSlotKey,
  c: ComponentName,
  file?: string,
  field?: string,
): T {
  const { entry, options } = checkComponent(catalogOf(run), slot, c, file, field);
  return construct(run, entry.implementation, options) as T;
}
