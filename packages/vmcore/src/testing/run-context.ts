import { type PhysicalMemory, type RunContext, type RunEvent, type RunOptions, type StubState } from '@efikdump/core';
import { createTestRun, pluginContainer } from '@efikdump/core/testing';

// Test support only (not exported from the package): a run context around a given machine, from
// core's public test kit (no slot bound: the tests call vmcore's stages and writers directly).

export interface TestContext {
  ctx: RunContext;
  /** Every event emitted, progress included. */
  events: RunEvent[];
}

const empty = pluginContainer();

export function makeTestContext(memory: PhysicalMemory, init: { stub?: StubState; options?: Partial<RunOptions> } = {}): TestContext {
  const { ctx, events } = createTestRun({
    container: empty,
    memory,
    slots: [],
    options: { truthPages: 0, truthZeroPages: 0, ...(init.options ?? {}) },
    state: { bootCount: 1, stub: init.stub },
  });
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
