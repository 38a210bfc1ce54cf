import {
  EFI_VARIABLE as A,
  GiB,
  judgeBoot,
  MiB,
  PAGE_SIZE,
  Rng,
  decodeHandoffRecord,
  EFIKDUMP_VENDOR_GUID,
  encodeHandoffRecord,
  FLAG_CRASHED,
  handoffVariableName,
  RECORD_MAC_OFFSET,
  type HandoffRejection,
  type RunContext,
} from '@efikdump/core';
import { decodeZone, encodeZone } from '@efikdump/transports';
import { crc32 } from 'node:zlib';
import { rejectionMetric, REJECTION_CATEGORIES } from '../efi-stub';
import {
  bootAndArm,
  cleanWarmResetToStub,
  designWith,
  machine,
  panicAndReset,
  runStages,
  stubAndJudge,
  warnings,
  type Sim,
} from '../testing/harness';
import { BOOT_SECRET_ATTRIBUTES, BOOT_SECRET_VARIABLE, decodeBootSecret } from './boot-secret';

// Issue 4's trust rules: an attacker with root in the 1st kernel can write EFI variables and
// memory, but never sees a key the stub has not handed out yet. Forged, replayed, truncated and
// bit-flipped records must never produce a capture boot; each is refused with its reason and counted.

const SEEDS = 200;
const SIZES = [512 * MiB, 1 * GiB, 2 * GiB, 4 * GiB];

const slotPage = (s: Sim): Uint8Array => {
  const b = new Uint8Array(PAGE_SIZE);
  s.ctx.machine.memory.read(s.ctx.state.kernel!.handoffSlot, b);
  return b;
};
const zoneRecord = (s: Sim) => decodeZone(slotPage(s), 'slot').data;
const plant = (s: Sim, record: Uint8Array) => s.ctx.machine.memory.write(s.ctx.state.kernel!.handoffSlot, encodeZone(record));
const withCrc = (b: Uint8Array): Uint8Array => {
  const out = b.slice();
  const v = new DataView(out.buffer);
  v.setUint32(16, 0, true);
  v.setUint32(16, crc32(out), true);
  return out;
};
const totalRejections = (ctx: RunContext) => REJECTION_CATEGORIES.reduce((n, c) => n + (ctx.metrics[rejectionMetric(c)] as number), 0);

/** This boot was not a capture boot, and the refusal is in the state, the timeline and the metrics. */
function expectRefused(s: Sim, allowed: readonly HandoffRejection[], before = 0): HandoffRejection {
  const stub = s.ctx.state.stub!;
  expect(stub.boot).toBe(s.ctx.state.bootCount);
  expect(stub.crashedBoot).toBe(false);
  expect(stub.captureCmdline).toBeUndefined();
  expect(s.ctx.outcome?.outcome ?? 'continues').not.toBe('false-crash-boot');
  const category = stub.rejected?.[0]?.category;
  expect(allowed).toContain(category);
  expect(stub.reason).toMatch(new RegExp(`^handoff rejected \\(${category}\\): `));
  expect(warnings(s.ctx)).toContainEqual(expect.stringMatching(new RegExp(`^handoff rejected \\(${category}\\): `)));
  expect(totalRejections(s.ctx)).toBe(before + stub.rejected!.length);
  return category!;
}

const sim = (seed: number) => machine(seed, SIZES[seed % SIZES.length], { cpus: 1 + (seed % 4) });

describe(`attacks on the reserved-memory record (${SEEDS} seeds each)`, () => {
  it('forged: a crashed record the attacker made without the key, then a reboot — refused as forged', async () => {
    for (let seed = 0; seed < SEEDS; seed++) {
      const s = sim(0xf0000 + seed);
      await bootAndArm(s);
      // Root reads the armed record (nonce, reservation, elfcorehdr digest, MAC) and writes a crashed one.
      const armed = decodeHandoffRecord(zoneRecord(s), 'slot');
      const rng = new Rng(seed, 0xf0);
      const guess = new Uint8Array(32);
      rng.fill(guess);
      let forged: Uint8Array;
      switch (seed % 4) {
        case 0:
          forged = encodeHandoffRecord({ ...armed, flags: armed.flags | FLAG_CRASHED });
          break; // unsigned
        case 1:
          forged = encodeHandoffRecord({ ...armed, flags: armed.flags | FLAG_CRASHED }, guess);
          break; // a guessed key
        case 2: {
          // the armed record's genuine MAC on the crashed version
          const b = encodeHandoffRecord({ ...armed, flags: armed.flags | FLAG_CRASHED });
          b.set(armed.mac, RECORD_MAC_OFFSET);
          forged = withCrc(b);
          break;
        }
        default:
          forged = encodeHandoffRecord(
            {
              ...armed,
              flags: armed.flags | FLAG_CRASHED,
              info: { ...armed.info, bootNonce: rng.nextU64().toString(16).padStart(16, '0') },
            },
            guess,
          );
      }
      plant(s, forged);
      await cleanWarmResetToStub(s);
      expect(expectRefused(s, ['forged'])).toBe('forged');
      expect(s.ctx.outcome).toBeUndefined(); // no panic happened: a normal boot, the machine goes on
      expect(s.ctx.metrics.handoffRejectedForged).toBe(1);
    }
  });

  it('replayed: a genuine record of an earlier crash, left in place or saved and planted again — refused as replayed', async () => {
    for (let seed = 0; seed < SEEDS; seed++) {
      const s = sim(0x4e0000 + seed);
      await bootAndArm(s);
      await panicAndReset(s);
      const saved = zoneRecord(s);
      await stubAndJudge(s);
      expect(s.ctx.state.stub!.crashedBoot).toBe(true); // boot #2: the genuine capture boot
      if (seed % 2 === 1) {
        // The capture environment consumed it; a later 1st kernel's root plants the saved copy.
        s.transport.consume(s.ctx);
        await cleanWarmResetToStub(s);
        delete s.ctx.outcome;
        plant(s, saved);
      }
      await cleanWarmResetToStub(s);
      expectRefused(s, ['replayed']);
      expect(s.ctx.state.stub!.rejected![0].reason).toMatch(/^made for an earlier boot \(nonce [0-9a-f]{16}, \d boots ago\)$/);
      expect(s.ctx.metrics.handoffRejectedReplayed).toBe(1);
      expect(s.ctx.metrics.captureBoots).toBe(1);
    }
  });

  it('truncated: the genuine record cut short — refused as truncated', async () => {
    for (let seed = 0; seed < SEEDS; seed++) {
      const s = sim(0x7c0000 + seed);
      await bootAndArm(s);
      await panicAndReset(s);
      const record = zoneRecord(s);
      plant(s, record.subarray(0, 1 + new Rng(seed, 0x7c).below(record.length - 1)));
      await stubAndJudge(s);
      expectRefused(s, ['truncated']);
      expect(s.ctx.outcome).toEqual({
        outcome: 'no-dump',
        reason: expect.stringMatching(/^the stub booted normally: handoff rejected \(truncated\): /),
      });
      expect(s.ctx.metrics.handoffRejectedTruncated).toBe(1);
    }
  });

  it('bit-flipped: 1-8 bits of the genuine record changed, with or without a fixed-up CRC — refused (corrupt, truncated or forged)', async () => {
    const seen = new Set<HandoffRejection>();
    for (let seed = 0; seed < SEEDS; seed++) {
      const s = sim(0xb10000 + seed);
      await bootAndArm(s);
      await panicAndReset(s);
      const record = zoneRecord(s);
      const rng = new Rng(seed, 0xb1);
      let flipped: Uint8Array = record.slice();
      const flips = 1 + rng.below(8);
      for (let k = 0; k < flips; k++) {
        let at = rng.below(record.length);
        if (k === 0 && seed % 2 === 1) while (at >= 16 && at < 20) at = rng.below(record.length);
        flipped[at] ^= 1 << rng.below(8);
      }
      if (seed % 2 === 1) flipped = withCrc(flipped);
      plant(s, flipped);
      await stubAndJudge(s);
      seen.add(expectRefused(s, ['corrupt', 'truncated', 'forged']));
    }
    expect(seen).toContain('corrupt');
    expect(seen).toContain('forged');
  });
});

describe('attacks on the efi-variable record (50 seeds each)', () => {
  const efivar = (seed: number) =>
    machine(seed, 1 * GiB, {
      design: designWith({ transport: 'efi-variable', detector: 'efi-variable-flag' }),
      firmware: { maxVariableBytes: 512 },
    });
  const NV_BS_RT = A.NON_VOLATILE | A.BOOTSERVICE_ACCESS | A.RUNTIME_ACCESS;

  it('forged: root writes handoff variables from the running kernel (efivarfs), then reboots — refused as forged', async () => {
    for (let seed = 0; seed < 50; seed++) {
      const s = efivar(0xef0000 + seed);
      await bootAndArm(s);
      const guess = new Uint8Array(32);
      new Rng(seed).fill(guess);
      const forged = encodeHandoffRecord(
        {
          flags: 3,
          reason: 'forged',
          logTail: '',
          info: {
            version: 2,
            bootNonce: s.ctx.state.bootSecret!.nonce,
            crashkernel: s.ctx.state.kernel!.crashkernel,
            elfcorehdr: s.ctx.state.kernel!.elfcorehdr!,
            crashTimeUnix: 1,
            cpus: 2,
          },
        },
        seed % 2 ? guess : undefined,
      );
      expect(s.services.variables.setVariable(s.ctx, handoffVariableName(0), EFIKDUMP_VENDOR_GUID, NV_BS_RT, forged).status).toBe(
        'EFI_SUCCESS',
      );
      await cleanWarmResetToStub(s);
      expectRefused(s, ['forged']);
      expect(s.ctx.state.stub!.detector).toBe('efi-variable-flag');
    }
  });

  it("truncated: the last of the record's variables missing (a write that did not finish) — refused as truncated", async () => {
    for (let seed = 0; seed < 50; seed++) {
      const s = efivar(0xe70000 + seed);
      await bootAndArm(s);
      await panicAndReset(s);
      const count = s.ctx.metrics.handoffVariables as number;
      expect(count).toBeGreaterThan(1);
      s.services.variables.setVariable(s.ctx, handoffVariableName(count - 1), EFIKDUMP_VENDOR_GUID, NV_BS_RT, new Uint8Array(0));
      await stubAndJudge(s);
      expectRefused(s, ['truncated']);
    }
  });
});

describe('the boot secret', () => {
  it('lives in an NV|BS variable: invisible, unwritable and undeletable after ExitBootServices (the firmware enforces it)', async () => {
    const s = machine(1, 1 * GiB);
    await bootAndArm(s);
    const vars = s.services.variables;
    expect(s.ctx.state.firmware!.atRuntime).toBe(true);
    expect(vars.getVariable(s.ctx, BOOT_SECRET_VARIABLE, EFIKDUMP_VENDOR_GUID).status).toBe('EFI_NOT_FOUND');
    expect(
      vars.setVariable(
        s.ctx,
        BOOT_SECRET_VARIABLE,
        EFIKDUMP_VENDOR_GUID,
        A.NON_VOLATILE | A.BOOTSERVICE_ACCESS | A.RUNTIME_ACCESS,
        new Uint8Array(56),
      ).status,
    ).toBe('EFI_INVALID_PARAMETER');
    expect(vars.setVariable(s.ctx, BOOT_SECRET_VARIABLE, EFIKDUMP_VENDOR_GUID, BOOT_SECRET_ATTRIBUTES, new Uint8Array(56)).status).toBe(
      'EFI_INVALID_PARAMETER',
    );
    expect(vars.setVariable(s.ctx, BOOT_SECRET_VARIABLE, EFIKDUMP_VENDOR_GUID, 0, new Uint8Array(0)).status).not.toBe('EFI_SUCCESS');
    const names: string[] = [];
    for (
      let r = vars.getNextVariableName(s.ctx, 1024, '', '');
      r.status === 'EFI_SUCCESS';
      r = vars.getNextVariableName(s.ctx, 1024, r.name!, r.guid!)
    )
      names.push(r.name!);
    expect(names).not.toContain(BOOT_SECRET_VARIABLE);
    // Before ExitBootServices (the next stub) it is there, with the key the kernel got in memory.
    await cleanWarmResetToStub(s);
    s.ctx.state.firmware!.atRuntime = false;
    const r = vars.getVariable(s.ctx, BOOT_SECRET_VARIABLE, EFIKDUMP_VENDOR_GUID);
    expect(r.attributes).toBe(BOOT_SECRET_ATTRIBUTES);
    const secret = decodeBootSecret(r.data!)!;
    expect({ keyHex: Buffer.from(secret.key).toString('hex'), nonce: secret.nonce }).toEqual(s.ctx.state.bootSecret);
    expect(secret.issuedAtBoot).toBe(2);
  });

  it('rotates on every boot, deterministically per seed', async () => {
    const nonces = async (seed: number) => {
      const s = machine(seed, 1 * GiB);
      await bootAndArm(s);
      const out = [s.ctx.state.bootSecret!.nonce];
      for (let i = 0; i < 3; i++) {
        await cleanWarmResetToStub(s);
        out.push(s.ctx.state.bootSecret!.nonce);
      }
      return out;
    };
    const a = await nonces(5);
    expect(new Set(a).size).toBe(4);
    expect(await nonces(5)).toEqual(a);
    expect(await nonces(6)).not.toEqual(a);
  });

  it('a variable of that name planted from the OS before the stub ever ran (NV|BS|RT) is ignored and replaced', async () => {
    const s = machine(2, 1 * GiB);
    await runStages(s.ctx, s.firmware.powerOn());
    const planted = new Uint8Array(56);
    expect(
      s.services.variables.setVariable(
        s.ctx,
        BOOT_SECRET_VARIABLE,
        EFIKDUMP_VENDOR_GUID,
        A.NON_VOLATILE | A.BOOTSERVICE_ACCESS | A.RUNTIME_ACCESS,
        planted,
      ).status,
    ).toBe('EFI_SUCCESS');
    await stubAndJudge(s);
    expect(warnings(s.ctx)).toContainEqual(
      expect.stringMatching(/has attributes 0x7, not NV\|BS \(0x3\): planted from the OS, ignored and removed/),
    );
    s.ctx.state.firmware!.atRuntime = false;
    expect(s.services.variables.getVariable(s.ctx, BOOT_SECRET_VARIABLE, EFIKDUMP_VENDOR_GUID).attributes).toBe(BOOT_SECRET_ATTRIBUTES);
  });

  it('a store that refuses the secret: the kernel gets none, and its crash cannot be captured (refused as forged, not trusted blindly)', async () => {
    const s = machine(3, 1 * GiB);
    await runStages(s.ctx, s.firmware.powerOn());
    s.ctx.state.firmware!.atRuntime = false;
    // Fill the store to the last bytes, in boot services.
    for (let i = 0, size = 32768; size >= 4; i++) {
      if (
        s.services.variables.setVariable(
          s.ctx,
          `Filler${i}`,
          EFIKDUMP_VENDOR_GUID,
          A.NON_VOLATILE | A.BOOTSERVICE_ACCESS,
          new Uint8Array(size),
        ).status !== 'EFI_SUCCESS'
      )
        size = Math.floor(size / 2);
    }
    await runStages(s.ctx, s.stub.operator(), judgeBoot(), s.kernel.boot(), s.transport.prepare(), s.kernel.workload());
    expect(warnings(s.ctx)).toContainEqual(
      expect.stringMatching(/^SetVariable\(EfikdumpBootSecret\) returned EFI_OUT_OF_RESOURCES: no boot secret for this boot/),
    );
    expect(s.ctx.state.bootSecret).toBeUndefined();
    await panicAndReset(s);
    await stubAndJudge(s);
    expectRefused(s, ['forged']);
  });

  it('no capture boot twice in a row: a panic in the capture kernel with a valid record is refused as a loop', async () => {
    const s = machine(4, 2 * GiB);
    await bootAndArm(s);
    await panicAndReset(s);
    await stubAndJudge(s);
    expect(s.ctx.state.stub!.crashedBoot).toBe(true);
    // The capture kernel (boot #2, with its own secret) panics and stores a record signed with it.
    await panicAndReset(s);
    await stubAndJudge(s);
    expectRefused(s, ['loop']);
    expect(s.ctx.state.stub!.rejected![0].reason).toMatch(/^boot #2 already was a capture boot/);
    expect(s.ctx.metrics.handoffRejectedLoop).toBe(1);
    // The counter starts again after a normal boot: the next real crash is captured.
    delete s.ctx.outcome;
    await panicAndReset(s);
    await stubAndJudge(s);
    expect(s.ctx.state.stub!.crashedBoot).toBe(true);
    expect(s.ctx.metrics.captureBoots).toBe(2);
  });
});

describe('judgeBoot', () => {
  it('before any panic a crashed verdict is a false crash boot; after one, a normal boot ends the run without a dump', async () => {
    const s = machine(9, 1 * GiB);
    await runStages(s.ctx, s.firmware.powerOn());
    s.ctx.state.stub = { crashedBoot: true, detector: 'x', reason: 'a stub that believed a marker', boot: 1 };
    await runStages(s.ctx, judgeBoot());
    expect(s.ctx.outcome).toEqual({
      outcome: 'false-crash-boot',
      reason: 'the stub took boot #1, before any panic, for a crashed boot: a stub that believed a marker',
    });

    const t = machine(10, 1 * GiB);
    await bootAndArm(t);
    await runStages(t.ctx, t.kernel.panic());
    t.ctx.state.handoff = { transport: 'efi-variable', location: 'none', bytes: 0, failure: 'efi-variable: the store is full' };
    t.ctx.state.stub = { crashedBoot: false, detector: 'x', reason: 'nothing found', boot: 1 };
    await runStages(t.ctx, judgeBoot());
    expect(t.ctx.outcome).toEqual({
      outcome: 'no-dump',
      reason: 'the stub booted normally: nothing found (the handoff was never stored: efi-variable: the store is full)',
    });
  });

  it('refuses to judge a boot the stub did not run on', async () => {
    const s = machine(11, 1 * GiB);
    await runStages(s.ctx, s.firmware.powerOn());
    await expect(runStages(s.ctx, judgeBoot())).rejects.toThrow(/no stub verdict for boot #1/);
  });
});
