// The persist report's conventions (docs/handoff-conventions.md), checked on every built-in
// transport that stores a record, through the public index only, as a third party sees it.
import { FIRMWARE, KERNEL, TRANSPORT, type RunContext } from '@efikdump/core';
import { createTestRun, pluginContainer, testDesign, testScenario } from '@efikdump/core/testing';
import { register as registerFirmware } from '@efikdump/firmware-uefi';
import { register as registerKernel } from '@efikdump/kernel-crash';
import { PERSIST_METRICS, RESET_DATA_PREFIX, register } from './index';

const plugins = pluginContainer(registerFirmware, registerKernel, register);
const NONCE = '0123456789abcdef';

/** Boots, arms, panics and persists with `transport`: the metric keys the persist stage added, and the run. */
async function persistWith(
  transport: string,
  profile: string,
): Promise<{ added: string[]; ctx: RunContext; messages: (stage: string, kind?: string) => string[] }> {
  const t = createTestRun({
    container: plugins,
    design: testDesign({ components: { transport }, firmware: { profile } }),
    // Firmware that keeps RAM: what POST overwrites is not what this test is about.
    scenario: testScenario({ firmware: { scratch: [] } }),
    seed: 5,
    slots: ['firmware', 'retention', 'kernel', 'transport', 'exit'],
  });
  const fw = t.resolve(FIRMWARE),
    kernel = t.resolve(KERNEL),
    tr = t.resolve(TRANSPORT);
  await t.stages(fw.powerOn());
  // What the EFI stub would have handed this boot's kernel.
  t.ctx.state.bootSecret = { keyHex: '5a'.repeat(32), nonce: NONCE };
  await t.stages(kernel.boot(), tr.prepare(), kernel.workload(), kernel.panic());
  const before = new Set(Object.keys(t.ctx.metrics));
  await t.stages(tr.persist());
  return {
    added: Object.keys(t.ctx.metrics)
      .filter((k) => !before.has(k))
      .sort(),
    ctx: t.ctx,
    messages: t.messages,
  };
}

const sorted = (names: readonly string[]) => [...names].sort();

describe('the persist report', () => {
  // Each stored record: the common metrics, plus the transport's own details (none for the in-RAM ones).
  it.each([
    ['reserved-memory', 'ovmf', []],
    ['fdt', 'ovmf', []],
    ['efi-variable', 'ovmf', ['handoffVariables']],
    ['acpi-erst', 'server', ['handoffErstRecordId']],
  ])(
    '%s on %s sets exactly PERSIST_METRICS.stored (and its details %j), the state and an info event',
    async (transport, profile, details) => {
      const { added, ctx, messages } = await persistWith(transport, profile);
      expect(added).toEqual(sorted([...PERSIST_METRICS.stored, ...details]));
      expect(ctx.metrics.handoffTransport).toBe(transport);
      expect(ctx.metrics.handoffFailed).toBe(false);
      const h = ctx.state.handoff!;
      expect(h.transport).toBe(transport);
      expect(h.failure).toBeUndefined();
      expect(h.bytes).toBe(ctx.metrics.handoffBytes);
      expect(h.bytes).toBeLessThanOrEqual(ctx.metrics.handoffStoredBytes as number);
      expect(h.resetData).toBe(`${RESET_DATA_PREFIX}${NONCE}`);
      expect(messages('handoff-persist', 'info')).toEqual([
        expect.stringContaining(`${transport}: ${h.bytes}-byte record stored at ${h.location}`),
      ]);
    },
  );

  it('a record that cannot be stored sets exactly PERSIST_METRICS.failed, a failure in the state and a warning', async () => {
    // OVMF publishes no ERST: acpi-erst has nowhere to write.
    const { added, ctx, messages } = await persistWith('acpi-erst', 'ovmf');
    expect(added).toEqual(sorted(PERSIST_METRICS.failed));
    expect(ctx.metrics.handoffFailed).toBe(true);
    expect(ctx.metrics.handoffBytes).toBe(0);
    expect(ctx.state.handoff).toEqual({
      transport: 'acpi-erst',
      location: 'none',
      bytes: 0,
      failure: ctx.metrics.handoffFailure,
      resetData: `${RESET_DATA_PREFIX}${NONCE}`,
    });
    expect(ctx.metrics.handoffFailure).toMatch(/^acpi-erst: the firmware publishes no ERST table/);
    expect(messages('handoff-persist')).toEqual([`handoff not stored: ${ctx.metrics.handoffFailure}`]);
  });
});
