import { GiB, PAGE_SIZE, RUN_CONTAINER, type CrashDetector } from '@efikdump/core';
import {
  decodeZone,
  EFIKDUMP_VENDOR_GUID,
  encodeHandoffRecord,
  encodeZone,
  handoffVariableName,
  decodeHandoffRecord,
} from '@efikdump/transports';
import { bootAndArm, designWith, machine, panicAndReset, runStages, stubAndJudge, warnings, type Sim } from '../testing/harness';
import { AnyOfDetector } from './any-of.detector';

const design = (transport: string, detector: string, profile = 'ovmf') => designWith({ transport, detector, profile });

/** Boot, arm, panic, persist; then the warm reset with `resetData` (what the exit would pass), POST, and the stub. */
async function crashWithResetData(s: Sim, resetData?: (nonce: string) => string): Promise<void> {
  await bootAndArm(s);
  if (!resetData) return panicAndReset(s).then(() => stubAndJudge(s));
  await runStages(s.ctx, s.kernel.panic(), s.transport.persist());
  s.firmware.resetSystem(s.ctx, 'warm', resetData(s.ctx.state.bootSecret!.nonce));
  await runStages(s.ctx, s.firmware.resetAndPost());
  await stubAndJudge(s);
}

describe('detectors', () => {
  it('efi-variable-flag finds the handoff variables; the stub boots the capture kernel from them', async () => {
    const s = machine(1, 1 * GiB, { design: design('efi-variable', 'efi-variable-flag') });
    await crashWithResetData(s);
    expect(s.ctx.state.stub).toMatchObject({
      crashedBoot: true,
      detector: 'efi-variable-flag',
      reason: `efi-variable record at EfikdumpHandoff0000-${EFIKDUMP_VENDOR_GUID}`,
    });
  });

  it('bert-record finds the CPER section in BERT on a server; without republishing it sees nothing', async () => {
    const s = machine(2, 1 * GiB, { design: design('acpi-erst', 'bert-record', 'server') });
    await crashWithResetData(s);
    expect(s.ctx.state.stub).toMatchObject({
      crashedBoot: true,
      detector: 'bert-record',
      reason: expect.stringMatching(/^acpi-erst record at BERT boot error region 0x[0-9a-f]+ entry 0$/),
    });
    const t = machine(3, 1 * GiB, { design: design('acpi-erst', 'bert-record', 'server'), firmware: { bertFromErst: false } });
    await crashWithResetData(t);
    expect(t.ctx.state.stub).toMatchObject({ crashedBoot: false, reason: expect.stringMatching(/holds 0 entries, none of section type/) });
    expect(t.ctx.outcome?.outcome).toBe('no-dump');
  });

  describe('transport-discovery', () => {
    it.each([
      ['reserved-memory', 'ovmf', /^reserved-memory record at 0x[0-9a-f]+$/],
      ['fdt', 'ovmf', /^fdt record at 0x[0-9a-f]+$/],
      ['efi-variable', 'ovmf', /^efi-variable record at EfikdumpHandoff0000-/],
      ['acpi-erst', 'server', /^acpi-erst record at BERT boot error region 0x[0-9a-f]+ entry 0$/],
    ])("asks the design's transport (%s) for its record: the stub boots the capture kernel", async (transport, profile, reason) => {
      const s = machine(20, 1 * GiB, { design: design(transport, 'transport-discovery', profile) });
      const discover = jest.spyOn(s.transport, 'discover');
      await crashWithResetData(s);
      expect(discover).toHaveBeenCalled();
      expect(s.ctx.state.stub).toMatchObject({ crashedBoot: true, detector: 'transport-discovery', reason: expect.stringMatching(reason) });
    });

    it("reports what the design's transport says when it has nothing, and credits damage to itself", async () => {
      const s = machine(21, 1 * GiB, { design: design('cmdline', 'transport-discovery') });
      expect(s.detector.detect(s.ctx)).toMatchObject({
        crashed: false,
        reason: expect.stringMatching(/^the capture command line is a kexec segment/),
      });
      const t = machine(22, 1 * GiB, { design: design('reserved-memory', 'transport-discovery') });
      await bootAndArm(t);
      await panicAndReset(t);
      const slot = t.ctx.state.kernel!.handoffSlot;
      const page = new Uint8Array(PAGE_SIZE);
      t.ctx.machine.memory.read(slot, page);
      page.fill(0xff, 64, 4096); // the zone's signature stays, its blocks and parity are gone
      t.ctx.machine.memory.write(slot, page);
      const d = t.detector.detect(t.ctx);
      expect(d).toMatchObject({ crashed: false, damaged: [{ source: 'transport-discovery', category: 'corrupt' }] });
    });
  });

  it("efi-variable-flag and reserved-memory-magic ask the design's transport (the TRANSPORT slot), not a class of their own", async () => {
    for (const [transport, detector] of [
      ['efi-variable', 'efi-variable-flag'],
      ['reserved-memory', 'reserved-memory-magic'],
      ['fdt', 'reserved-memory-magic'],
    ] as const) {
      const s = machine(23, 1 * GiB, { design: design(transport, detector) });
      const discover = jest.spyOn(s.transport, 'discover');
      await crashWithResetData(s);
      expect(discover).toHaveBeenCalled();
      expect(s.ctx.state.stub).toMatchObject({ crashedBoot: true, detector });
    }
  });

  describe('reset-reason', () => {
    it('on a server that keeps ResetData: "efikdump: crash <nonce>" plus the transport\'s record is a crashed boot', async () => {
      const s = machine(4, 1 * GiB, { design: design('reserved-memory', 'reset-reason', 'server') });
      await crashWithResetData(s, (n) => `efikdump: crash ${n}`);
      expect(s.ctx.state.stub).toMatchObject({ crashedBoot: true, detector: 'reset-reason' });
      expect(s.ctx.log.timeline.some((e) => /crashed boot detected/.test(e.message))).toBe(true);
    });

    it('on OVMF the ResetData is dropped: reset-reason alone cannot see the crash, and the run says so', async () => {
      const s = machine(5, 1 * GiB, { design: design('reserved-memory', 'reset-reason', 'ovmf') });
      await crashWithResetData(s, (n) => `efikdump: crash ${n}`);
      const finding =
        /the firmware \(profile ovmf\) does not keep ResetData across a reset \("efikdump: crash [0-9a-f]{16}" was lost\): reset-reason cannot see a crash on this platform/;
      expect(s.ctx.state.stub).toMatchObject({ crashedBoot: false, reason: expect.stringMatching(finding) });
      expect(warnings(s.ctx)).toContainEqual(expect.stringMatching(new RegExp(`^reset-reason: ${finding.source}`)));
      expect(s.ctx.outcome).toEqual({ outcome: 'no-dump', reason: expect.stringMatching(finding) });
    });

    it('ResetData naming another nonce than the record carries: refused as replayed', async () => {
      const s = machine(6, 1 * GiB, { design: design('reserved-memory', 'reset-reason', 'server') });
      await crashWithResetData(s, () => 'efikdump: crash 0123456789abcdef');
      expect(s.ctx.state.stub).toMatchObject({ crashedBoot: false, rejected: [{ category: 'replayed', source: 'reset-reason' }] });
      expect(s.ctx.metrics.handoffRejectedReplayed).toBe(1);
    });

    it("the efi-warm-reset exit passes the transport's ResetData: on a server reset-reason sees the crash", async () => {
      const s = machine(10, 1 * GiB, { design: design('reserved-memory', 'reset-reason', 'server') });
      await crashWithResetData(s);
      expect(s.ctx.state.stub).toMatchObject({ crashedBoot: true, detector: 'reset-reason' });
    });

    it('a reset without ResetData, or a foreign reason: no crash', async () => {
      const s = machine(7, 1 * GiB, { design: design('reserved-memory', 'reset-reason', 'server') });
      await bootAndArm(s);
      await runStages(s.ctx, s.kernel.panic(), s.transport.persist());
      s.firmware.resetSystem(s.ctx, 'warm');
      await runStages(s.ctx, s.firmware.resetAndPost());
      await stubAndJudge(s);
      expect(s.ctx.state.stub!.reason).toBe('the reset carried no ResetData (the exit strategy passed none)');
      const t = machine(8, 1 * GiB, { design: design('reserved-memory', 'reset-reason', 'server') });
      await crashWithResetData(t, () => 'watchdog');
      expect(t.ctx.state.stub!.reason).toBe('ResetData "watchdog" is not an efikdump crash');
    });
  });

  describe('any-of', () => {
    it("combines every other registered detector, resolved in the run's container, in the catalog's order", () => {
      const s = machine(9, 1 * GiB, { design: design('fdt', 'any-of') });
      const anyOf = s.detector as AnyOfDetector;
      expect(anyOf).toBeInstanceOf(AnyOfDetector);
      expect(anyOf.members().map((d: CrashDetector) => d.name)).toEqual([
        'bert-record',
        'efi-variable-flag',
        'reserved-memory-magic',
        'reset-reason',
      ]);
      expect(s.run.resolve(RUN_CONTAINER)).toBe(s.run);
    });

    it('finds the fdt record through reserved-memory-magic, and reports on OVMF that reset-reason cannot work there', async () => {
      const s = machine(10, 1 * GiB, { design: design('fdt', 'any-of') });
      await crashWithResetData(s, (n) => `efikdump: crash ${n}`);
      expect(s.ctx.state.stub).toMatchObject({
        crashedBoot: true,
        detector: 'any-of',
        reason: expect.stringMatching(/^reserved-memory-magic\/fdt record at 0x/),
      });
      expect(warnings(s.ctx)).toContainEqual(
        expect.stringMatching(/^any-of: reset-reason: the firmware \(profile ovmf\) does not keep ResetData/),
      );
    });

    it('the first valid record wins: a forged one found first is refused and counted, the genuine one after it is used', async () => {
      const s = machine(11, 1 * GiB, { design: design('reserved-memory', 'any-of') });
      await bootAndArm(s);
      await panicAndReset(s);
      // Root had planted handoff variables (efi-variable-flag comes before reserved-memory-magic).
      const slotPage = new Uint8Array(PAGE_SIZE);
      s.ctx.machine.memory.read(s.ctx.state.kernel!.handoffSlot, slotPage);
      const genuine = decodeHandoffRecord(decodeZone(slotPage, 'slot').data, 'slot');
      s.services.variables.setVariable(
        s.ctx,
        handoffVariableName(0),
        EFIKDUMP_VENDOR_GUID,
        7,
        encodeHandoffRecord({ ...genuine, reason: 'forged' }, new Uint8Array(32)),
      );
      await stubAndJudge(s);
      expect(s.ctx.state.stub).toMatchObject({
        crashedBoot: true,
        reason: expect.stringMatching(/^reserved-memory-magic\/reserved-memory record at /),
        rejected: [{ category: 'forged', source: expect.stringMatching(/^efi-variable-flag\/efi-variable at EfikdumpHandoff0000/) }],
      });
      expect(s.ctx.metrics.handoffRejectedForged).toBe(1);
    });

    it("a record two detectors find (reset-reason reads the design's transport too) is validated once", async () => {
      const s = machine(12, 1 * GiB, { design: design('reserved-memory', 'any-of', 'server') });
      await bootAndArm(s);
      await panicAndReset(s);
      const slot = s.ctx.state.kernel!.handoffSlot;
      const page = new Uint8Array(PAGE_SIZE);
      s.ctx.machine.memory.read(slot, page);
      const data = decodeZone(page, 'slot').data;
      const nonce = decodeHandoffRecord(data, 'slot').info.bootNonce;
      data[300] ^= 1;
      s.ctx.machine.memory.write(slot, encodeZone(data));
      // As if the exit had passed ResetData (the server keeps it): reset-reason offers the same (damaged) record.
      s.ctx.state.firmware!.resetReason = { type: 'warm', effective: 'warm', reason: `efikdump: crash ${nonce}` };
      await stubAndJudge(s);
      expect(s.ctx.state.stub!.rejected).toHaveLength(1);
      expect(s.ctx.metrics.handoffRejectedCorrupt).toBe(1);
    });
  });
});
