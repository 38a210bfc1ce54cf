import { lastValueFrom, of } from 'rxjs';
import { container as globalContainer } from 'tsyringe';
import {
  bindSlot,
  catalogOf,
  ConfigError,
  decodeRsdp,
  decodeSdt,
  EFI_VARIABLE as A,
  FIRMWARE,
  FIRMWARE_SERVICES,
  GiB,
  PAGE_SIZE,
  type FirmwareOverrides,
  type RetentionPolicy,
  type RunContext,
  type StageOperator,
} from '@efikdump/core';
import { register } from './index';
import { firmwareContext } from './testing/firmware-context';
import { UefiFirmware } from './uefi.firmware';
import { DecayRetention } from './retention/decay.retention';
import { FirmwareScratchRetention } from './retention/firmware-scratch.retention';
import { MorRetention } from './retention/mor.retention';
import { MEMORY_OVERWRITE_CONTROL_GUID, MOR_NAME, LINUX_EFI_CRASH_GUID } from './variables/well-known';

const run = (ctx: RunContext, ...ops: StageOperator[]) => lastValueFrom(ops.reduce((o, op) => o.pipe(op), of(ctx)));
const NV_BS_RT = A.NON_VOLATILE | A.BOOTSERVICE_ACCESS | A.RUNTIME_ACCESS;

/** This package's plug-ins: the firmware resolves the policies its profile lists from their catalog. */
const plugins = globalContainer.createChildContainer();
register(plugins);

async function powered(
  profile = 'ovmf',
  overrides?: FirmwareOverrides,
  policies: RetentionPolicy[] = [new FirmwareScratchRetention(), new DecayRetention()],
  cmdline?: string,
) {
  const t = firmwareContext({ profile, overrides, ramBytes: 4 * GiB, cmdline });
  t.ctx.state.firmware = undefined;
  t.ctx.state.bootCount = 0;
  const fw = new UefiFirmware(policies, plugins);
  await run(t.ctx, fw.powerOn());
  return { ...t, fw };
}

describe('power-on', () => {
  it("creates the firmware state from the design's profile and the scenario's overrides, builds the map, and starts boot #1 with boot services up", async () => {
    const { ctx } = await powered('server', { serial: false });
    const fw = ctx.state.firmware!;
    expect(fw.profile.name).toBe('server');
    expect(fw.profile.serial).toBe(false);
    expect(ctx.state.bootCount).toBe(1);
    expect(ctx.state.memoryMap!.length).toBeGreaterThan(5);
    // Boot services stay up until the stub calls ExitBootServices.
    expect(fw.atRuntime).toBe(false);
    expect(ctx.clock.nowUs).toBeGreaterThanOrEqual(120_000_000);
    expect(ctx.clock.nowUs).toBeLessThan(301_000_000);
  });

  it('installs the ACPI tables in memory, reachable from the RSDP', async () => {
    const { ctx, fw } = await powered('server');
    const tables = fw.services.acpi.tables(ctx);
    expect(tables.map((t) => t.signature)).toEqual(['RSD PTR ', 'XSDT', 'SPCR', 'BERT', 'ERST']);
    const rsdp = decodeRsdp(tables[0].bytes);
    expect(Number(rsdp.xsdtAddress)).toBe(tables[1].paddr);
    for (const t of tables.slice(1)) expect(decodeSdt(t.bytes).header.signature).toBe(t.signature);
  });

  it('names the design file and field for an unknown profile', async () => {
    const { ctx } = firmwareContext();
    (ctx.design as { firmware?: { profile: string } }).firmware = { profile: 'mainframe' };
    await expect(run(ctx, new UefiFirmware([]).powerOn())).rejects.toThrow(
      new ConfigError('Unknown firmware profile: mainframe (known: ideal, laptop, ovmf, ovmf-measured, ovmf-secboot, server)', {
        file: 'test-design.json',
        field: 'firmware.profile',
      }),
    );
  });

  it('lets the OS set MOR ClearMemory on every boot where the profile says so (laptop)', async () => {
    const { ctx, fw } = await powered('laptop');
    expect(fw.services.variables.getVariable(ctx, MOR_NAME, MEMORY_OVERWRITE_CONTROL_GUID).data).toEqual(Uint8Array.of(1));
  });
});

describe('UEFI 2.10 §8.5.1 ResetSystem', () => {
  it('warm: devices reset, warm POST timing, NV variables kept, volatile ones gone, retention map recorded', async () => {
    const { ctx, fw } = await powered('ovmf');
    const vars = fw.services.variables;
    expect(vars.setVariable(ctx, 'Kept', LINUX_EFI_CRASH_GUID, NV_BS_RT, Uint8Array.of(1)).status).toBe('EFI_SUCCESS');
    fw.services.variables.exitBootServices(ctx);
    ctx.state.firmware!.atRuntime = false;
    expect(vars.setVariable(ctx, 'Gone', LINUX_EFI_CRASH_GUID, A.BOOTSERVICE_ACCESS | A.RUNTIME_ACCESS, Uint8Array.of(1)).status).toBe(
      'EFI_SUCCESS',
    );
    fw.resetSystem(ctx, 'warm');
    const t = ctx.clock.nowUs;
    await run(ctx, fw.resetAndPost());
    const elapsed = ctx.clock.nowUs - t;
    expect(elapsed).toBeGreaterThanOrEqual(50_000 + 1_200_000);
    expect(elapsed).toBeLessThan(50_000 + 2_600_000);
    expect(vars.getVariable(ctx, 'Kept', LINUX_EFI_CRASH_GUID).status).toBe('EFI_SUCCESS');
    expect(vars.getVariable(ctx, 'Gone', LINUX_EFI_CRASH_GUID).status).toBe('EFI_NOT_FOUND');
    expect(ctx.metrics.resetType).toBe('warm');
    // The design's policies, then the platform's own it did not name (MOR, ECC initialisation): no-ops on this profile.
    expect(ctx.state.firmware!.retention.map((r) => [r.policy, r.reset, r.boot, r.changedPages > 0])).toEqual([
      ['firmware-scratch', 'warm', 2, true],
      ['decay', 'warm', 2, false],
      ['mor', 'warm', 2, false],
      ['ecc-reinit', 'warm', 2, false],
    ]);
    expect(ctx.metrics.retentionChangedPages).toBe(ctx.state.firmware!.retention[0].changedPages);
    expect(ctx.state.bootCount).toBe(2);
  });

  it('warm becomes cold where the platform has no warm reset; platform-specific follows the profile; shutdown ends the run', async () => {
    const a = await powered('server', { warmReset: 'cold' });
    a.fw.resetSystem(a.ctx, 'warm');
    await run(a.ctx, a.fw.resetAndPost());
    expect(a.ctx.metrics.resetType).toBe('cold');
    const b = await powered('ovmf');
    b.fw.resetSystem(b.ctx, 'platform-specific', { reason: 'crash', guid: LINUX_EFI_CRASH_GUID });
    expect(b.ctx.state.firmware!.resets[0]).toMatchObject({ type: 'platform-specific', effective: 'cold', guid: LINUX_EFI_CRASH_GUID });
    const c = await powered('ovmf');
    c.fw.resetSystem(c.ctx, 'shutdown');
    await run(c.ctx, c.fw.resetAndPost());
    expect(c.ctx.outcome).toEqual({ outcome: 'no-dump', reason: 'the machine was shut down' });
  });

  it('keeps ResetData (UCS-2 string, GUID) for the next boot where the profile does, and drops it on OVMF', async () => {
    const s = await powered('server');
    s.fw.resetSystem(s.ctx, 'platform-specific', { reason: 'kdump', guid: LINUX_EFI_CRASH_GUID });
    await run(s.ctx, s.fw.resetAndPost());
    expect(s.fw.services.resetReason(s.ctx)).toEqual({
      type: 'platform-specific',
      effective: 'cold',
      reason: 'kdump',
      guid: LINUX_EFI_CRASH_GUID,
      dataHex: '6b00640075006d0070000000' + '79fcc8cf2ebedc4d97f09f98bfe298a0',
    });
    const o = await powered('ovmf');
    o.fw.resetSystem(o.ctx, 'warm', 'kdump');
    await run(o.ctx, o.fw.resetAndPost());
    expect(o.fw.services.resetReason(o.ctx)).toBeUndefined();
  });

  it('cannot run while another CPU holds the runtime lock: Linux falls back to a keyboard-controller reset without ResetData', async () => {
    const { ctx, fw, events } = await powered('server', { faults: ['runtime-lock-busy-at-panic'] });
    ctx.state.panic = { cpu: 0, unixTime: 0, reason: 'test' };
    fw.resetSystem(ctx, 'warm', 'kdump');
    expect(events.some((e) => e.kind === 'warn' && /could not get exclusive access to the firmware/.test(e.message))).toBe(true);
    await run(ctx, fw.resetAndPost());
    expect(fw.services.resetReason(ctx)?.reason).toMatch(/keyboard-controller/);
  });

  it('a power loss during a panic-time NV write makes the next reset a power cycle', async () => {
    const { ctx, fw } = await powered('laptop', { faults: ['power-loss-during-panic-nv-write'] });
    ctx.state.panic = { cpu: 0, unixTime: 0, reason: 'test' };
    expect(
      fw.services.variables.setVariableNonBlocking(ctx, 'dump-type0-1-1', LINUX_EFI_CRASH_GUID, NV_BS_RT, new Uint8Array(256)).status,
    ).toBe('EFI_DEVICE_ERROR');
    fw.resetSystem(ctx, 'warm');
    await run(ctx, fw.resetAndPost());
    expect(ctx.metrics.resetType).toBe('cold');
  });
});

describe('retention through a reset', () => {
  it('the mor policy wipes RAM after a panic on the laptop profile, and the firmware clears ClearMemory at ReadyToBoot', async () => {
    const { ctx, fw } = await powered('laptop', undefined, [new MorRetention()]);
    fw.resetSystem(ctx, 'warm');
    await run(ctx, fw.resetAndPost());
    const entry = ctx.state.firmware!.retention[0];
    expect(entry.changedPages * PAGE_SIZE).toBe(ctx.machine.memory.ramBytes);
    // The stub of boot #2 sets it again (CONFIG_RESET_ATTACK_MITIGATION); before that the firmware had cleared it.
    expect(ctx.state.firmware!.nvram.writes).toBeGreaterThanOrEqual(3);
  });

  it('gives the same retention map for the same seed', async () => {
    const maps: string[] = [];
    for (let i = 0; i < 2; i++) {
      const { ctx, fw } = await powered('server');
      fw.resetSystem(ctx, 'cold');
      await run(ctx, fw.resetAndPost());
      maps.push(JSON.stringify(ctx.state.firmware!.finish().retention));
    }
    expect(maps[0]).toBe(maps[1]);
    expect(JSON.parse(maps[0])[1].note).toMatch(/decayed/);
  });
});

describe("the retention policies a reset applies: the design's, then the profile's platformRetention", () => {
  it("lists them in the report with who named each, skipping the profile's that the design names", async () => {
    const { ctx, fw } = await powered('ovmf', undefined, [new DecayRetention(), new FirmwareScratchRetention()]);
    expect(ctx.state.firmware!.profile.platformRetention.map((p) => p.name)).toEqual(['mor', 'firmware-scratch', 'ecc-reinit', 'decay']);
    fw.resetSystem(ctx, 'warm');
    await run(ctx, fw.resetAndPost());
    const report = ctx.state.firmware!.finish();
    expect(report.retentionPolicies).toEqual([
      { policy: 'decay', from: 'design' },
      { policy: 'firmware-scratch', from: 'design' },
      { policy: 'mor', from: 'profile' },
      { policy: 'ecc-reinit', from: 'profile' },
    ]);
    expect(report.retention.map((r) => r.policy)).toEqual(['decay', 'firmware-scratch', 'mor', 'ecc-reinit']);
  });

  it("applies only what the list names: a scenario that empties it keeps MOR from wiping the laptop's RAM", async () => {
    const listed = await powered('laptop', undefined, []);
    listed.fw.resetSystem(listed.ctx, 'warm');
    await run(listed.ctx, listed.fw.resetAndPost());
    const mor = listed.ctx.state.firmware!.retention.find((r) => r.policy === 'mor')!;
    expect(mor.changedPages * PAGE_SIZE).toBe(listed.ctx.machine.memory.ramBytes);
    const emptied = await powered('laptop', { platformRetention: [] }, []);
    emptied.fw.resetSystem(emptied.ctx, 'warm');
    await run(emptied.ctx, emptied.fw.resetAndPost());
    expect(emptied.ctx.state.firmware!.retention).toEqual([]);
    expect(emptied.ctx.state.firmware!.finish().retentionPolicies).toEqual([]);
    expect(emptied.ctx.metrics.retentionChangedPages).toBe(0);
  });

  it('names the file and the field of a policy the catalog does not know, or of a bad option, at power-on', async () => {
    const unknown = await powered('ovmf', { platformRetention: [{ name: 'mor' }, { name: 'cosmic-rays' }] }, []).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(ConfigError);
    expect((unknown as ConfigError).describe()).toBe(
      'test-scenario.json:firmware.platformRetention[1]: Unknown retention: cosmic-rays (known: decay, ecc-reinit, firmware-scratch, mor, retain-all, scrub-all)',
    );
    const bad = await powered('ovmf', { platformRetention: [{ name: 'decay', options: { rate: 2 } }] }, []).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(ConfigError);
    expect((bad as ConfigError).describe()).toBe(
      'test-scenario.json:firmware.platformRetention[0].options.rate: expected no options ("decay" takes none), found "rate"',
    );
  });
});

describe('consoles (domain reference §8)', () => {
  it.each<[string, FirmwareOverrides, string, boolean, string]>([
    ['GOP after POST', {}, 'console=ttyS0', true, 'gop'],
    ['serial only, with console=ttyS0', { gop: false }, 'console=ttyS0', true, 'serial'],
    ['serial only, without a serial console argument', { gop: false }, 'quiet', false, 'none'],
    ['neither (laptop without GOP)', { gop: false, serial: false }, 'console=ttyS0', false, 'none'],
  ])('%s', async (_n, overrides, cmdline, seen, via) => {
    const { ctx, fw } = await powered('ovmf', overrides, [], cmdline);
    fw.resetSystem(ctx, 'warm');
    await run(ctx, fw.resetAndPost());
    expect([ctx.metrics.consoleSeen, ctx.metrics.console]).toEqual([seen, via]);
    expect(ctx.state.firmware!.finish().consoles).toMatchObject({ captureOutputSeen: seen, via });
  });
});

describe('register', () => {
  it("binds the firmware, six retention policies, the offline-dump exit and its transports, and FIRMWARE_SERVICES to the run's firmware", () => {
    const root = globalContainer.createChildContainer();
    register(root);
    const names = catalogOf(root)
      .list()
      .map((e) => `${e.slot}:${e.name}`);
    expect(names).toEqual([
      'exit:firmware-writes-dump',
      'firmware:uefi',
      'retention:decay',
      'retention:ecc-reinit',
      'retention:firmware-scratch',
      'retention:mor',
      'retention:retain-all',
      'retention:scrub-all',
      'transport:offline-dump-variables',
      'transport:offline-dump-variables-encrypted',
    ]);
    const child = root.createChildContainer();
    bindSlot(child, catalogOf(root), 'retention', ['mor', 'decay']);
    bindSlot(child, catalogOf(root), 'firmware', ['uefi']);
    const firmware = child.resolve(FIRMWARE) as UefiFirmware;
    expect(child.resolve(FIRMWARE_SERVICES)).toBe(firmware.services);
  });
});
