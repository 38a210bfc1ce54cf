import { EventLog, Rng, VirtualClock, type Design, type PhysicalMemory, type RunContext, type RunEvent, type RunOptions, type StubState } from '@efikdump/core';

// Test support only (not exported from the package): a run context around a given machine.

export interface TestContext {
  ctx: RunContext;
  /** Every event emitted, progress included. */
  events: RunEvent[];
}

export function makeTestContext(memory: PhysicalMemory, init: { stub?: StubState; options?: Partial<RunOptions> } = {}): TestContext {
  const clock = new VirtualClock();
  const log = new EventLog(clock);
  const events: RunEvent[] = [];
  log.events$.subscribe((e) => events.push(e));
  const ctx: RunContext = {
    seed: 1,
    design: { name: 'test', components: {} } as unknown as Design,
    scenario: { name: 'test' } as unknown as RunContext['scenario'],
    options: { truthPages: 0, truthZeroPages: 0, ...(init.options ?? {}) },
    machine: { ramBytes: memory.ramBytes, cpus: 2, memory },
    clock,
    rng: new Rng(1),
    log,
    state: { bootCount: 1, stub: init.stub },
    metrics: {},
    artifacts: {},
  };
  return { ctx, events };
}

/** Byte equality without Jest's element-wise diff (slow on MiB-sized arrays); names the first difference. */
export function expectSameBytes(got: Uint8Array, want: Uint8Array): void {
  const a = Buffer.from(got.buffer, got.byteOffset, got.length);
  const b = Buffer.from(want.buffer, want.byteOffset, want.length);
  if (a.equals(b)) return;
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  throw new Error(`bytes differ: lengths ${a.length} / ${b.length}, first difference at ${i}`);
}
