import {
  EFI_VARIABLE as A,
  GiB,
  EFIKDUMP_VENDOR_GUID,
  handoffVariableName,
  decodeHandoffRecord,
  FLAG_CRASHED,
  verifyRecordMac,
  type HandoffDiscovery,
} from '@efikdump/core';
import { bootAndArm, crashAndReset, designFor, machine, runStages, warnings, type Sim } from '../testing/harness';
import { HANDOFF_VARIABLE_ATTRIBUTES } from './efi-variable.transport';

const DESIGN = designFor('efi-variable');
const sim = (seed: number, opts: { profile?: string; firmware?: Record<string, unknown> } = {}): Sim =>
  machine(opts.profile ? designFor('efi-variable', { profile: opts.profile }) : DESIGN, seed, 1 * GiB, { firmware: opts.firmware });

/** The handoff variables in the store now, in index order. */
function handoffVariables(s: Sim): { name: string; attributes: number; data: Uint8Array }[] {
  const out = [];
  for (let i = 0; ; i++) {
    const r = s.services.variables.getVariable(s.ctx, handoffVariableName(i), EFIKDUMP_VENDOR_GUID);
    if (r.status !== 'EFI_SUCCESS') return out;
    out.push({ name: handoffVariableName(i), attributes: r.attributes!, data: r.data! });
  }
}

const recordOf = (d: HandoffDiscovery) => {
  if (!d.found) throw new Error(d.reason);
  return d.candidate;
};

describe('EfiVariableTransport', () => {
  it('stores the signed record in one NV|BS|RT variable under the vendor GUID on OVMF, at a flash cost', async () => {
    const s = sim(1);
    const secret = await crashAndReset(s);
    const vars = handoffVariables(s);
    expect(vars.map((v) => [v.name, v.attributes])).toEqual([
      ['EfikdumpHandoff0000', A.NON_VOLATILE | A.BOOTSERVICE_ACCESS | A.RUNTIME_ACCESS],
    ]);
    const record = decodeHandoffRecord(vars[0].data, 'var');
    expect(record.flags & FLAG_CRASHED).toBe(FLAG_CRASHED);
    expect(record.info.bootNonce).toBe(secret.nonce);
    expect(verifyRecordMac(vars[0].data, secret.key)).toBe(true);
    expect(s.ctx.metrics.handoffVariables).toBe(1);
    expect(s.ctx.metrics.handoffNvramBytesWritten).toBeGreaterThan(vars[0].data.length);
    expect(s.ctx.metrics.handoffPersistUs).toBeGreaterThan(0);
    const c = recordOf(s.transport.discover(s.ctx));
    expect(c).toEqual({ source: 'efi-variable', location: `EfikdumpHandoff0000-${EFIKDUMP_VENDOR_GUID}`, record: vars[0].data });
  });

  it('splits the record across variables no larger than the profile allows (512 bytes here) and reassembles it', async () => {
    const s = sim(2, { firmware: { maxVariableBytes: 512 } });
    await crashAndReset(s);
    const vars = handoffVariables(s);
    expect(vars.length).toBeGreaterThan(1);
    // Each variable: the 60-byte authenticated header, the UCS-2 name with its NUL, the data.
    for (const v of vars) expect(60 + 2 * (v.name.length + 1) + v.data.length).toBeLessThanOrEqual(512);
    const whole = Buffer.concat(vars.map((v) => v.data));
    const c = recordOf(s.transport.discover(s.ctx));
    expect(Buffer.from(c.record)).toEqual(whole);
    expect(c.location).toBe(`EfikdumpHandoff0000..${handoffVariableName(vars.length - 1).slice(-4)}-${EFIKDUMP_VENDOR_GUID}`);
    expect(decodeHandoffRecord(c.record, 'vars').info.crashkernel).toEqual(s.ctx.state.kernel!.crashkernel);
  });

  it('a nearly full store: warned at load, a clear failure at panic (status named), nothing written, never a throw', async () => {
    const s = sim(3, { firmware: { nvramBytesUsed: '252KiB', nvramBytesGarbage: '0' } });
    await crashAndReset(s);
    expect(warnings(s.ctx, 'handoff-prepare').join('\n')).toMatch(/too few to store a record at panic and keep Linux's 5120-byte floor/);
    expect(s.ctx.state.handoff?.failure).toMatch(
      /^efi-variable: SetVariable\(EfikdumpHandoff0000\) returned EFI_OUT_OF_RESOURCES: the variable store is full/,
    );
    expect(s.ctx.metrics).toMatchObject({ handoffFailed: true, handoffBytes: 0 });
    expect(warnings(s.ctx, 'handoff-persist')).toEqual([`handoff not stored: ${s.ctx.state.handoff!.failure}`]);
    expect(handoffVariables(s)).toEqual([]);
    expect(s.transport.discover(s.ctx)).toEqual({ found: false, reason: `no EfikdumpHandoff0000 variable under ${EFIKDUMP_VENDOR_GUID}` });
  });

  it('the runtime lock held by another CPU: EFI_NOT_READY, reported', async () => {
    const s = sim(4, { firmware: { faults: ['runtime-lock-busy-at-panic'] } });
    await crashAndReset(s);
    expect(s.ctx.state.handoff?.failure).toMatch(/EFI_NOT_READY: another CPU holds the EFI runtime lock/);
  });

  it('a torn write: nothing valid on an edk2 store (atomic); a damaged variable on a store without the state protocol (corrupt)', async () => {
    const atomic = sim(5, { firmware: { faults: ['power-loss-during-panic-nv-write'] } });
    await crashAndReset(atomic);
    expect(atomic.ctx.state.handoff?.failure).toMatch(/EFI_DEVICE_ERROR: the flash write failed \(power lost: torn write\); 0 of 1/);
    expect(atomic.transport.discover(atomic.ctx).found).toBe(false);

    const corrupt = sim(6, { firmware: { faults: ['power-loss-during-panic-nv-write'], tornWrite: 'corrupt' } });
    await crashAndReset(corrupt);
    const c = recordOf(corrupt.transport.discover(corrupt.ctx));
    // Half the record, then erased flash (0xff): the record's own checks refuse it.
    expect(() => decodeHandoffRecord(c.record, 'torn')).toThrow(/handoff record/);
  });

  it('a variable of that name with other attributes (here volatile, planted from the OS) is damage, not a record', async () => {
    const s = sim(7);
    await bootAndArm(s);
    await runStages(s.ctx, s.kernel.panic(), s.exit.leave(), s.firmware.resetAndPost());
    expect(
      s.services.variables.setVariable(
        s.ctx,
        handoffVariableName(0),
        EFIKDUMP_VENDOR_GUID,
        A.BOOTSERVICE_ACCESS | A.RUNTIME_ACCESS,
        new Uint8Array(200),
      ).status,
    ).toBe('EFI_SUCCESS');
    expect(s.transport.discover(s.ctx)).toEqual({
      found: false,
      reason: 'EfikdumpHandoff0000 has attributes 0x6, not NV|BS|RT (0x7)',
      damage: 'corrupt',
    });
  });

  it('consume() deletes every handoff variable (at runtime, as the capture environment does)', async () => {
    const s = sim(8, { firmware: { maxVariableBytes: 512 } });
    await crashAndReset(s);
    expect(handoffVariables(s).length).toBeGreaterThan(1);
    s.services.variables.exitBootServices(s.ctx);
    s.transport.consume(s.ctx);
    expect(handoffVariables(s)).toEqual([]);
    expect(s.transport.discover(s.ctx).found).toBe(false);
  });

  it('prepare() removes the variables of an earlier, unconsumed crash', async () => {
    const s = sim(9);
    await crashAndReset(s);
    expect(handoffVariables(s)).toHaveLength(1);
    s.services.variables.exitBootServices(s.ctx);
    await runStages(s.ctx, s.transport.prepare());
    expect(handoffVariables(s)).toEqual([]);
    expect(s.ctx.log.timeline.some((e) => /removed 1 handoff variables of an earlier crash/.test(e.message))).toBe(true);
  });

  it('artifacts(): efivarfs files (attributes, then data) and the record', async () => {
    const s = sim(10, { firmware: { maxVariableBytes: 512 } });
    await crashAndReset(s);
    const files = s.transport.artifacts!(s.ctx);
    const vars = handoffVariables(s);
    expect(files.map((f) => f.path)).toEqual([...vars.map((v) => `efivarfs/${v.name}-${EFIKDUMP_VENDOR_GUID}`), 'handoff-record.bin']);
    for (const [i, v] of vars.entries()) {
      expect(new DataView(files[i].bytes.buffer).getUint32(0, true)).toBe(HANDOFF_VARIABLE_ATTRIBUTES);
      expect(files[i].bytes.subarray(4)).toEqual(v.data);
    }
  });
});
