import type { RunContext, RunState } from './context';
import { SimulationError } from './errors';

declare const SLICE_TYPE: unique symbol;

/**
 * The name of one slice of run state a package owns: what it keeps for itself between its stages
 * (fadump's saved boot memory, the capture kernel's panic count). Declare it once, at module level,
 * with `stateKey`, and keep it to the package: the key object is the only way to its slice.
 */
export interface StateKey<T> {
  /** `owner/name`: unique within a run. */
  readonly id: string;
  /** The package that owns the slice, e.g. `@efikdump/kernel-crash`. */
  readonly owner: string;
  readonly name: string;
  /** Type only (never set): the type of the slice. */
  readonly [SLICE_TYPE]?: T;
}

/** Where a run keeps the slices packages own (`RunState.owned`): a slice's id to its key and value. */
export type OwnedState = Map<string, { readonly key: StateKey<unknown>; value: unknown }>;

/** Declares a slice of run state `owner` keeps for itself; its id is `${owner}/${name}`. */
export function stateKey<T>(owner: string, name: string): StateKey<T> {
  if (!owner || !name) throw new SimulationError(`a state key needs an owner and a name, found owner '${owner}', name '${name}'`);
  return Object.freeze({ id: `${owner}/${name}`, owner, name });
}

function describeKey(key: StateKey<unknown>): string {
  return `'${key.name}' of ${key.owner}`;
}

/** The run's entry for `key`, claiming the id for this key object the first time; another key object with the same id throws. */
function entryOf<T>(target: RunContext | RunState, key: StateKey<T>): { readonly key: StateKey<unknown>; value: unknown } {
  const state = 'bootCount' in target ? target : target.state;
  const owned = (state.owned ??= new Map());
  let entry = owned.get(key.id);
  if (!entry) {
    entry = { key, value: undefined };
    owned.set(key.id, entry);
  } else if (entry.key !== key) {
    throw new SimulationError(
      `two state keys share the id '${key.id}': ${describeKey(entry.key)} and ${describeKey(key)} (two packages, or two copies of one, would write the same slice)`,
    );
  }
  return entry;
}

/** The slice `key` names in a run (its context or its state), or undefined when it was never set or was cleared. */
export function getState<T>(target: RunContext | RunState, key: StateKey<T>): T | undefined {
  return entryOf(target, key).value as T | undefined;
}

/** Sets the slice `key` names in a run, and returns the value. */
export function setState<T>(target: RunContext | RunState, key: StateKey<T>, value: T): T {
  entryOf(target, key).value = value;
  return value;
}

/** Sets the slice `key` names from its current value (undefined when unset), and returns the new value. */
export function updateState<T>(target: RunContext | RunState, key: StateKey<T>, update: (current: T | undefined) => T): T {
  const entry = entryOf(target, key);
  entry.value = update(entry.value as T | undefined);
  return entry.value as T;
}

/** Unsets the slice `key` names (the key keeps its claim on the id for the rest of the run). */
export function clearState<T>(target: RunContext | RunState, key: StateKey<T>): void {
  entryOf(target, key).value = undefined;
}
