import type { RunState } from './context';
import { SimulationError } from './errors';
import { PhysicalMemory } from './memory/physical-memory';
import { clearState, getState, setState, stateKey, updateState } from './state-keys';
import { createTestRun, pluginContainer } from './test-kit';
import { MiB } from './units';

const container = pluginContainer();

/** A run as the runner builds it (no plug-ins, no stage run). */
function newRun(seed = 1) {
  return createTestRun({ container, slots: [], seed, memory: new PhysicalMemory({ seed, ram: [{ start: 0, end: 256 * MiB }] }) }).ctx;
}

interface Saved {
  ranges: { start: number; end: number }[];
  destination: number;
}

const SAVED = stateKey<Saved>('@example/plugin-a', 'saved');
const COUNT = stateKey<number>('@example/plugin-a', 'count');

describe('state keys', () => {
  it('names a slice owner/name', () => {
    expect(SAVED.id).toBe('@example/plugin-a/saved');
    expect(SAVED.owner).toBe('@example/plugin-a');
    expect(SAVED.name).toBe('saved');
    expect(() => stateKey('', 'x')).toThrow(SimulationError);
    expect(() => stateKey('@example/plugin-a', '')).toThrow(SimulationError);
  });

  it('round-trips a typed slice through the context or the state', () => {
    const ctx = newRun();
    expect(ctx.state.owned).toBeInstanceOf(Map);
    expect(getState(ctx, SAVED)).toBeUndefined();
    const saved: Saved = { ranges: [{ start: 0, end: 0x1000 }], destination: 0x2000 };
    expect(setState(ctx, SAVED, saved)).toBe(saved);
    const back: Saved | undefined = getState(ctx.state, SAVED);
    expect(back).toBe(saved);
    expect(updateState(ctx, COUNT, (n) => (n ?? 0) + 1)).toBe(1);
    expect(updateState(ctx.state, COUNT, (n) => (n ?? 0) + 1)).toBe(2);
    expect(getState(ctx, COUNT)).toBe(2);
    clearState(ctx, SAVED);
    expect(getState(ctx, SAVED)).toBeUndefined();
    expect(getState(ctx, COUNT)).toBe(2);
    // @ts-expect-error: a slice holds its key's type only.
    setState(ctx, COUNT, 'three');
  });

  it('works on a hand-built state without the map', () => {
    const state: RunState = { bootCount: 1 };
    setState(state, COUNT, 5);
    expect(getState(state, COUNT)).toBe(5);
    expect(state.owned?.size).toBe(1);
  });

  it('refuses a second key object with the same id, naming both owners', () => {
    const ctx = newRun();
    setState(ctx, COUNT, 1);
    const other = stateKey<string>('@example/plugin-a', 'count');
    expect(() => getState(ctx, other)).toThrow(SimulationError);
    expect(() => setState(ctx, other, 'x')).toThrow(/two state keys share the id '@example\/plugin-a\/count'/);
    expect(getState(ctx, COUNT)).toBe(1);
    // The same id from another split of owner and name, claimed by a read only: still refused.
    const a = stateKey<number>('@example/b', 'c');
    const b = stateKey<number>('@example', 'b/c');
    expect(getState(ctx, a)).toBeUndefined();
    expect(() => setState(ctx, b, 1)).toThrow("two state keys share the id '@example/b/c': 'c' of @example/b and 'b/c' of @example");
  });

  it('keeps a slice to its run', () => {
    const one = newRun(1);
    const two = newRun(1);
    setState(one, SAVED, { ranges: [], destination: 1 });
    expect(getState(two, SAVED)).toBeUndefined();
    setState(two, SAVED, { ranges: [], destination: 2 });
    expect(getState(one, SAVED)?.destination).toBe(1);
    expect(getState(two, SAVED)?.destination).toBe(2);
  });
});
