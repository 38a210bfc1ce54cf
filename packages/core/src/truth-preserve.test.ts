import { VirtualClock } from './clock';
import type { Design, Scenario } from './config';
import type { RunContext } from './context';
import { EventLog } from './events';
import { PhysicalMemory } from './memory/physical-memory';
import { Rng } from './rng';
import type { TruthManifest } from './truth';
import { preservePageInTruth } from './truth-preserve';
import { GiB, PAGE_SIZE } from './units';

function makeContext(truth?: TruthManifest): RunContext {
  const memory = new PhysicalMemory({ seed: 5, ram: [{ start: 0x100000, end: GiB }] });
  const clock = new VirtualClock();
  return {
    seed: 5,
    design: { name: 'test' } as unknown as Design,
    scenario: { name: 'test' } as unknown as Scenario,
    options: { truthPages: 0, truthZeroPages: 0 },
    machine: { ramBytes: memory.ramBytes, cpus: 1, memory },
    clock,
    rng: new Rng(5),
    log: new EventLog(clock),
    state: { bootCount: 1, ...(truth ? { truth } : {}) },
    metrics: {},
    artifacts: {},
  };
}

const emptyTruth = (): TruthManifest => ({ format: 'efikdump-truth/1', pageSize: PAGE_SIZE, pages: [], zeroPages: [], excluded: [] });

describe('preservePageInTruth', () => {
  it('does nothing without a truth', () => {
    expect(preservePageInTruth(makeContext(), 0x200000)).toBe(false);
  });

  it('adds a page with its content now, sorted by address, once', () => {
    const ctx = makeContext(emptyTruth());
    const mem = ctx.machine.memory;
    const data = new Uint8Array(PAGE_SIZE).fill(0xa5);
    mem.write(0x300000, data);
    mem.write(0x200000, data);
    expect(preservePageInTruth(ctx, 0x300000)).toBe(true);
    expect(preservePageInTruth(ctx, 0x200000)).toBe(true);
    expect(preservePageInTruth(ctx, 0x300000)).toBe(false);
    const truth = ctx.state.truth!;
    expect(truth.pages.map((p) => p.paddr)).toEqual([0x200000, 0x300000]);
    expect(truth.pages[0].sha256).toBe(mem.pageSha256(0x200000 / PAGE_SIZE));
    expect(truth.zeroPages).toEqual([]);
  });

  it('records an all-zero page as a zero page, sorted, once', () => {
    const ctx = makeContext(emptyTruth());
    const zero = new Uint8Array(PAGE_SIZE);
    ctx.machine.memory.write(0x500000, zero);
    ctx.machine.memory.write(0x400000, zero);
    expect(preservePageInTruth(ctx, 0x500000)).toBe(true);
    expect(preservePageInTruth(ctx, 0x400000)).toBe(true);
    expect(preservePageInTruth(ctx, 0x400000)).toBe(false);
    expect(ctx.state.truth!.zeroPages).toEqual([0x400000, 0x500000]);
    expect(ctx.state.truth!.pages).toEqual([]);
  });
});
