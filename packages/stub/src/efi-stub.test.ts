import { createHash } from 'node:crypto';
import path from 'node:path';
import fc from 'fast-check';
import {
  createRun,
  GiB,
  hex,
  MiB,
  PAGE_SIZE,
  pageAlignUp,
  parseScenario,
  readJsonFile,
  Rng,
  systemRamFromMemoryMap,
  totalSize,
  runCrashkernel,
  decodeHandoffRecord,
  encodeHandoffRecord,
  type HandoffInfo,
  type PhysRange,
  type RunContext,
} from '@efikdump/core';
import { decodeZone, encodeZone } from '@efikdump/transports';
import {
  CAPTURE_CMDLINE_EXTRA,
  checkHandoff,
  LinuxEfiStub,
  MAX_ELFCOREHDR_BYTES,
  ReservedMemoryMagicDetector,
  validateHandoff,
} from './index';
import {
  bootAndArm,
  cleanWarmResetToStub,
  crashedBoot,
  designWith,
  machine,
  panicAndReset,
  rootContainer,
  runStages,
  stubAndJudge,
  warnings,
  type Sim,
} from './testing/harness';

// The stub runs on every boot (it issues the boot secret on the first); the judge decides what its verdict means.

const DESIGN = designWith();

function slotOf(ctx: RunContext): number {
  // Where the kernel places crashkernel=: around memblock's early reservations, as the stub checks it.
  return runCrashkernel(ctx, systemRamFromMemoryMap(ctx.state.memoryMap!)).placement!.ranges[0].start;
}

/** A normal boot: the stub's verdict, and no outcome unless a panic happened before it. */
function expectNormalBoot(ctx: RunContext, reason: RegExp): void {
  expect(ctx.state.stub).toMatchObject({
    crashedBoot: false,
    detector: 'reserved-memory-magic',
    reason: expect.stringMatching(reason),
    boot: ctx.state.bootCount,
  });
  if (ctx.state.panic) expect(ctx.outcome).toEqual({ outcome: 'no-dump', reason: expect.stringMatching(/^the stub booted normally: /) });
  else expect(ctx.outcome).toBeUndefined();
}

const SIZES_MIB = [256, 512, 1024, 2816, 4096, 8192];
const ramArb = fc.oneof(fc.constantFrom(...SIZES_MIB), fc.integer({ min: 256, max: 8192 })).map((m) => m * MiB);
const seedArb = fc.integer({ min: 0, max: 0xffffffff });

/** `memmap=<n>K@<s>K` arguments of a command line, as ranges. */
function memmapRanges(cmdline: string): PhysRange[] {
  return [...cmdline.matchAll(/(?:^| )memmap=(\d+)K@(\d+)K(?= |$)/g)].map((m) => ({
    start: Number(m[2]) * 1024,
    end: (Number(m[2]) + Number(m[1])) * 1024,
  }));
}

const overlapsAny = (ranges: readonly PhysRange[], r: PhysRange): boolean => ranges.some((x) => x.start < r.end && r.start < x.end);

// ---- (a) a clean boot is never taken for a crashed one ----

describe('LinuxEfiStub: a clean boot is never taken for a crashed one', () => {
  it('runs on the first boot: nothing found, a boot secret issued, boot services exited', async () => {
    const sim = machine(1, 1 * GiB);
    await runStages(sim.ctx, sim.firmware.powerOn());
    await stubAndJudge(sim);
    expectNormalBoot(sim.ctx, /^no persistent zone at 0x[0-9a-f]+: persistent zone signature: .*; no device tree blob at /);
    expect(sim.ctx.state.bootSecret).toEqual({
      keyHex: expect.stringMatching(/^[0-9a-f]{64}$/),
      nonce: expect.stringMatching(/^[0-9a-f]{16}$/),
    });
    expect(sim.ctx.state.firmware!.atRuntime).toBe(true);
    expect(sim.ctx.log.timeline.some((e) => e.stage === 'stub' && e.message === 'no boot secret was issued before this boot')).toBe(true);
  });

  it.each(SIZES_MIB)('armed, no panic, warm reset: a normal boot, the run goes on (%i MiB, 20 seeds)', async (mib) => {
    for (let seed = 0; seed < 20; seed++) {
      const sim = machine(mib * 7919 + seed, mib * MiB, { cpus: 1 + (seed % 8) });
      await bootAndArm(sim);
      await cleanWarmResetToStub(sim);
      expectNormalBoot(sim.ctx, /is armed but no crash was recorded$/);
      expect(sim.ctx.state.bootCount).toBe(2);
    }
  });

  it('nothing ever armed, memory of any content: a normal boot (240 seeds)', async () => {
    for (let seed = 0; seed < 240; seed++) {
      const sim = machine(0xf4e50000 + seed, SIZES_MIB[seed % SIZES_MIB.length] * MiB);
      const variant = seed % 4;
      // 0: fresh generated memory; 1: a random slot page; 2: random bytes inside a well-formed zone;
      // 3: the 1st kernel loaded kdump but the transport was never armed.
      await runStages(sim.ctx, sim.firmware.powerOn());
      await stubAndJudge(sim);
      if (variant === 3) await runStages(sim.ctx, sim.kernel.boot(), sim.kernel.workload());
      const slot = slotOf(sim.ctx);
      if (variant === 1) sim.ctx.machine.memory.fill({ start: slot, end: slot + PAGE_SIZE }, 'anon', seed, 'random');
      if (variant === 2) {
        const junk = new Uint8Array(128 + (seed % 900));
        new Rng(seed, 2).fill(junk);
        junk.set(Buffer.from('EFIKDUMP', 'ascii'), 0);
        sim.ctx.machine.memory.write(slot, encodeZone(junk));
      }
      await cleanWarmResetToStub(sim);
      if (variant === 2) {
        expectNormalBoot(sim.ctx, /^handoff rejected \((truncated|corrupt)\): reserved-memory at /);
      } else {
        expectNormalBoot(sim.ctx, new RegExp(`^no persistent zone at ${hex(slot)}: persistent zone signature`));
      }
    }
  });

  it('after consume() following a crash: the next boots are normal ones', async () => {
    for (let seed = 0; seed < 12; seed++) {
      const sim = machine(0xc0c0 + seed, SIZES_MIB[seed % SIZES_MIB.length] * MiB, { cpus: 1 + (seed % 4) });
      await crashedBoot(sim);
      expect(sim.ctx.state.stub?.crashedBoot).toBe(true);
      // The capture kernel saved the dump and cleared the record, then rebooted (twice).
      sim.transport.consume(sim.ctx);
      await cleanWarmResetToStub(sim);
      expectNormalBoot(sim.ctx, /no persistent zone/);
      delete sim.ctx.outcome;
      await cleanWarmResetToStub(sim);
      expectNormalBoot(sim.ctx, /no persistent zone/);
      expect(sim.ctx.state.bootCount).toBe(4);
    }
  });
});

// ---- (b) a real crash boots the capture kernel inside the reservation ----

describe('LinuxEfiStub: after a panic and a warm reset', () => {
  async function crashed(seed: number, ramBytes: number, cpus: number, design = DESIGN): Promise<Sim> {
    const sim = machine(seed, ramBytes, { cpus, design });
    await bootAndArm(sim);
    const nonce = sim.ctx.state.bootSecret!.nonce;
    await panicAndReset(sim);
    await stubAndJudge(sim);
    expect(sim.ctx.state.stub!.handoff?.bootNonce).toBe(nonce);
    expect(sim.ctx.state.bootSecret!.nonce).not.toBe(nonce);
    return sim;
  }

  function expectCaptureBoot(sim: Sim): void {
    const { ctx } = sim;
    const kernel = ctx.state.kernel!;
    const hdr = kernel.elfcorehdr!;
    const stub = ctx.state.stub!;
    expect(ctx.outcome).toBeUndefined();
    expect(stub.crashedBoot).toBe(true);
    expect(stub.boot).toBe(2);
    expect(stub.detector).toBe('reserved-memory-magic');
    expect(stub.reason).toBe(`reserved-memory record at ${hex(kernel.handoffSlot)}`);
    expect(stub.handoff).toEqual({
      version: 2,
      bootNonce: expect.stringMatching(/^[0-9a-f]{16}$/),
      crashkernel: kernel.crashkernel,
      elfcorehdr: hdr,
      crashTimeUnix: ctx.state.panic!.unixTime,
      cpus: ctx.machine.cpus,
    });
    expect(stub.record).toEqual({
      source: 'reserved-memory',
      location: hex(kernel.handoffSlot),
      reason: 'sysrq: Trigger a crash',
      logTail: expect.stringContaining('Kernel panic - not syncing'),
    });
    expect(ctx.metrics.captureBoots).toBe(1);

    const ram = stub.captureRam!;
    const firstPage = { start: kernel.handoffSlot, end: kernel.handoffSlot + PAGE_SIZE };
    const hdrPages = { start: hdr.paddr, end: hdr.paddr + pageAlignUp(hdr.size) };
    for (const r of ram) {
      expect(r.start % PAGE_SIZE).toBe(0);
      expect(r.end % PAGE_SIZE).toBe(0);
      expect(r.end).toBeGreaterThan(r.start);
      expect(kernel.crashkernel.some((k) => r.start >= k.start && r.end <= k.end)).toBe(true);
    }
    expect(overlapsAny(ram, firstPage)).toBe(false);
    expect(overlapsAny(ram, hdrPages)).toBe(false);
    // Nothing else of the reservation is withheld.
    expect(totalSize(ram)).toBe(totalSize(kernel.crashkernel) - PAGE_SIZE - pageAlignUp(hdr.size));

    const cmdline = stub.captureCmdline!;
    expect(cmdline.startsWith(CAPTURE_CMDLINE_EXTRA + ' ')).toBe(true);
    expect(hdr.paddr % 1024).toBe(0);
    expect(cmdline.split(' ').filter((t) => t.startsWith('elfcorehdr='))).toEqual([`elfcorehdr=${hdr.paddr / 1024}K`]);
    expect(cmdline.split(' ')).toContain('memmap=exactmap');
    expect(cmdline.indexOf('memmap=exactmap')).toBeLessThan(cmdline.search(/memmap=\d/));
    expect(memmapRanges(cmdline)).toEqual(ram);
    expect(ctx.log.timeline.some((e) => e.stage === 'stub' && e.kind === 'info' && e.message.startsWith('crashed boot detected'))).toBe(
      true,
    );
  }

  it('detects the crashed boot and limits the capture kernel to the reservation (any seed, size, CPU count)', async () => {
    await fc.assert(
      fc.asyncProperty(seedArb, ramArb, fc.integer({ min: 1, max: 64 }), async (seed, ramBytes, cpus) => {
        expectCaptureBoot(await crashed(seed, ramBytes, cpus));
      }),
      { numRuns: 40 },
    );
  });

  it('with a two-range (,high) reservation: both ranges, less the slot and the elfcorehdr', async () => {
    const sim = await crashed(21, 8 * GiB, 4, designWith({ cmdline: 'ro crashkernel=384M,high crashkernel=128M,low' }));
    expect(sim.ctx.state.kernel!.crashkernel).toHaveLength(2);
    expectCaptureBoot(sim);
    expect(memmapRanges(sim.ctx.state.stub!.captureCmdline!).length).toBeGreaterThanOrEqual(2);
  });

  it('a bit flipped in the zone (DRAM decay) is repaired by its parity, counted, and the boot proceeds', async () => {
    const sim = machine(22, 2 * GiB);
    await bootAndArm(sim);
    await panicAndReset(sim);
    const slot = sim.ctx.state.kernel!.handoffSlot;
    const byte = new Uint8Array(1);
    sim.ctx.machine.memory.read(slot + 100, byte);
    byte[0] ^= 4;
    sim.ctx.machine.memory.write(slot + 100, byte);
    await stubAndJudge(sim);
    expectCaptureBoot(sim);
    expect(sim.ctx.metrics.handoffCorrectedBytes).toBe(1);
  });

  it('the full pipeline with the vmcore package ends in a complete, verified dump', async () => {
    const scenarioDoc = readJsonFile(path.resolve(__dirname, '../../../apps/cli/scenarios/healthy.json'));
    // On firmware that keeps RAM: measured OVMF's losses are tested end to end in apps/cli (measured-firmware.test.ts).
    const scenario = parseScenario({ ...(scenarioDoc as object), firmware: { scratch: [] } }, 'healthy.json');
    for (const [seed, mib] of [
      [1, 256],
      [2, 1024],
      [3, 4096],
      [4, 8192],
    ] as const) {
      const result = await createRun(rootContainer(), {
        design: DESIGN,
        scenario,
        seed,
        ramBytes: mib * MiB,
        options: { truthPages: 128, truthZeroPages: 32 },
      }).start();
      expect({ mib, outcome: result.outcome }).toEqual({ mib, outcome: 'dump-complete' });
      const stubEvents = result.timeline.filter((e) => e.stage === 'stub' && e.kind === 'info').map((e) => e.message);
      expect(stubEvents).toContainEqual(expect.stringMatching(/^boot #1 is a normal boot: /));
      expect(stubEvents).toContainEqual(
        expect.stringMatching(
          /^crashed boot detected \(reserved-memory record at 0x[0-9a-f]+\); booting the capture kernel with elfcorehdr=\d+K$/,
        ),
      );
      expect(result.timeline.filter((e) => e.stage === 'judge' && e.kind === 'start')).toHaveLength(2);
    }
  });
});

// ---- (c) a handoff that does not check out is rejected ----

describe('LinuxEfiStub: a handoff that does not check out is rejected', () => {
  it('one bit of the elfcorehdr changed in memory after persist: no dump, the SHA-256 named, counted as corrupt', async () => {
    await fc.assert(
      fc.asyncProperty(seedArb, ramArb, fc.nat(), fc.integer({ min: 0, max: 7 }), async (seed, ramBytes, where, bit) => {
        const sim = machine(seed, ramBytes, { cpus: 1 + (seed % 8) });
        await bootAndArm(sim);
        await runStages(sim.ctx, sim.kernel.panic(), sim.transport.persist());
        const hdr = sim.ctx.state.kernel!.elfcorehdr!;
        const at = hdr.paddr + (where % hdr.size);
        const byte = new Uint8Array(1);
        sim.ctx.machine.memory.read(at, byte);
        byte[0] ^= 1 << bit;
        sim.ctx.machine.memory.write(at, byte);
        await runStages(sim.ctx, sim.exit.leave(), sim.firmware.resetAndPost());
        await stubAndJudge(sim);
        const why = `elfcorehdr at ${hex(hdr.paddr)} does not match its SHA-256`;
        const where_ = `reserved-memory at ${hex(sim.ctx.state.kernel!.handoffSlot)}`;
        expect(sim.ctx.state.stub).toEqual({
          crashedBoot: false,
          detector: 'reserved-memory-magic',
          boot: 2,
          reason: `handoff rejected (corrupt): ${where_}: ${why}`,
          rejected: [{ category: 'corrupt', source: where_, reason: why }],
        });
        expect(sim.ctx.outcome).toEqual({
          outcome: 'no-dump',
          reason: `the stub booted normally: handoff rejected (corrupt): ${where_}: ${why}`,
        });
        expect(sim.ctx.metrics.handoffRejectedCorrupt).toBe(1);
      }),
      { numRuns: 30 },
    );
  });

  it('one bit of the record changed under an intact zone (a writer that re-wrapped it): the CRC refuses it', async () => {
    const sim = machine(31, 2 * GiB);
    await bootAndArm(sim);
    await panicAndReset(sim);
    const slot = sim.ctx.state.kernel!.handoffSlot;
    const page = new Uint8Array(PAGE_SIZE);
    sim.ctx.machine.memory.read(slot, page);
    const data = decodeZone(page, 'slot').data;
    data[70] ^= 4;
    sim.ctx.machine.memory.write(slot, encodeZone(data));
    await stubAndJudge(sim);
    expectNormalBoot(sim.ctx, /^handoff rejected \(corrupt\): reserved-memory at 0x[0-9a-f]+: handoff record CRC-32/);
    expect(warnings(sim.ctx)).toContainEqual(expect.stringMatching(/^handoff rejected \(corrupt\)/));
  });
});

// ---- (d) checkHandoff / validateHandoff ----

describe('validateHandoff', () => {
  let sim: Sim;
  let info: HandoffInfo;
  let systemRam: PhysRange[];
  const sha = (paddr: number, size: number): string => {
    const b = new Uint8Array(size);
    sim.ctx.machine.memory.read(paddr, b);
    return createHash('sha256').update(b).digest('hex');
  };
  const check = (changed: Partial<HandoffInfo>, expected?: readonly PhysRange[]) =>
    validateHandoff({ ...info, ...changed }, systemRam, sim.ctx.machine.memory, expected);

  beforeAll(async () => {
    sim = machine(41, 8 * GiB);
    await bootAndArm(sim);
    await panicAndReset(sim);
    const found = sim.detector.detect(sim.ctx);
    if (!found.crashed) throw new Error(found.reason);
    info = decodeHandoffRecord(found.candidates[0].record, 'slot').info;
    systemRam = systemRamFromMemoryMap(sim.ctx.state.memoryMap!);
  });

  const reservation = (): PhysRange => info.crashkernel[0];

  it('accepts the handoff the 1st kernel left, with or without the expected reservation', () => {
    expect(info.crashkernel).toHaveLength(1);
    expect(check({})).toBeUndefined();
    expect(check({}, info.crashkernel)).toBeUndefined();
  });

  it.each([
    ['above the top of RAM', () => ({ start: 12 * GiB, end: 12 * GiB + 256 * MiB })],
    ['in the PCI hole', () => ({ start: 3 * GiB, end: 3 * GiB + 256 * MiB })],
    ['running past the end of low RAM', () => ({ start: 2 * GiB - 128 * MiB, end: 2 * GiB + 128 * MiB })],
    [
      'over firmware reserved, ACPI and runtime memory (RAM, but not System RAM)',
      () => {
        const fw = sim.ctx.state.memoryMap!.find((d) => d.type === 0)!; // EfiReservedMemoryType
        return { start: fw.start - 16 * MiB, end: fw.start + fw.pages * PAGE_SIZE };
      },
    ],
    ['in the legacy hole below 1 MiB', () => ({ start: 0x90000, end: 0x110000 })],
  ])('rejects a crashkernel range %s', (_, range) => {
    const r = range();
    expect(check({ crashkernel: [reservation(), r] })).toBe(`crashkernel range ${hex(r.start)}-${hex(r.end)} is not inside System RAM`);
  });

  it.each([
    ['start', (r: PhysRange) => ({ start: r.start + 512, end: r.end })],
    ['end', (r: PhysRange) => ({ start: r.start, end: r.end - 1 })],
    ['start and end', (r: PhysRange) => ({ start: r.start + 2048, end: r.end + 2048 })],
  ])('rejects a crashkernel range whose %s is not page aligned', (_, shift) => {
    const r = shift(reservation());
    expect(check({ crashkernel: [r] })).toBe(`crashkernel range ${hex(r.start)}-${hex(r.end)} is not page aligned`);
  });

  it('rejects an elfcorehdr outside the reservation, even one whose digest matches', () => {
    const { size, paddr } = info.elfcorehdr;
    const r = reservation();
    const copyAt = r.start - 2 * PAGE_SIZE;
    const hdr = new Uint8Array(size);
    sim.ctx.machine.memory.read(paddr, hdr);
    sim.ctx.machine.memory.write(copyAt, hdr);
    expect(check({ elfcorehdr: { paddr: copyAt, size, sha256: info.elfcorehdr.sha256 } })).toBe(
      `elfcorehdr ${hex(copyAt)}+${size} is outside the reservation`,
    );
    const straddle = r.end - PAGE_SIZE;
    const long = PAGE_SIZE + 64;
    expect(check({ elfcorehdr: { paddr: straddle, size: long, sha256: sha(straddle - PAGE_SIZE, long) } })).toBe(
      `elfcorehdr ${hex(straddle)}+${long} is outside the reservation`,
    );
    expect(check({ elfcorehdr: { paddr: 6 * GiB, size, sha256: sha(6 * GiB, size) } })).toBe(
      `elfcorehdr ${hex(6 * GiB)}+${size} is outside the reservation`,
    );
  });

  it('rejects sizes below 64 and above MAX_ELFCOREHDR_BYTES, and accepts both limits when the digest matches', () => {
    const at = reservation().start + PAGE_SIZE;
    for (const size of [0, 1, 63, MAX_ELFCOREHDR_BYTES + 1, 2 ** 31, Number.MAX_SAFE_INTEGER]) {
      const sha256 = size <= MAX_ELFCOREHDR_BYTES + 1 ? sha(at, size) : info.elfcorehdr.sha256;
      expect(check({ elfcorehdr: { paddr: at, size, sha256 } })).toBe(`elfcorehdr size ${size} is outside 64..${MAX_ELFCOREHDR_BYTES}`);
    }
    for (const size of [64, MAX_ELFCOREHDR_BYTES]) {
      expect(check({ elfcorehdr: { paddr: at, size, sha256: sha(at, size) } })).toBeUndefined();
    }
  });

  it('rejects a digest that does not match, and an implausible CPU count', () => {
    const { paddr } = info.elfcorehdr;
    expect(check({ elfcorehdr: { ...info.elfcorehdr, sha256: '0'.repeat(64) } })).toBe(
      `elfcorehdr at ${hex(paddr)} does not match its SHA-256`,
    );
    expect(check({ cpus: 0 })).toBe('CPU count 0 is implausible');
    expect(check({ cpus: 8193 })).toBe('CPU count 8193 is implausible');
    expect(check({ cpus: 1 })).toBeUndefined();
    expect(check({ cpus: 8192 })).toBeUndefined();
  });

  it('rejects a reservation other than the expected one', () => {
    const r = reservation();
    const bigger = [{ start: r.start - 16 * MiB, end: r.end }];
    expect(check({ crashkernel: bigger }, info.crashkernel)).toBe('the record names a reservation other than the one crashkernel= places');
    expect(check({}, bigger)).toBe('the record names a reservation other than the one crashkernel= places');
  });

  it('checkHandoff gives each refusal its category: the reservation, or a corrupt handoff', () => {
    const r = reservation();
    expect(
      checkHandoff(
        { ...info, crashkernel: [{ start: r.start - 16 * MiB, end: r.end }] },
        systemRam,
        sim.ctx.machine.memory,
        info.crashkernel,
      )?.category,
    ).toBe('wrong-reservation');
    expect(
      checkHandoff({ ...info, crashkernel: [{ start: 3 * GiB, end: 3 * GiB + MiB }] }, systemRam, sim.ctx.machine.memory)?.category,
    ).toBe('wrong-reservation');
    expect(
      checkHandoff({ ...info, elfcorehdr: { ...info.elfcorehdr, sha256: '0'.repeat(64) } }, systemRam, sim.ctx.machine.memory)?.category,
    ).toBe('corrupt');
    expect(checkHandoff(info, systemRam, sim.ctx.machine.memory, info.crashkernel)).toBeUndefined();
  });
});

describe('wiring', () => {
  it("the stub gets the design's detector, and the detector its transports, by injection", () => {
    const sim = machine(51, 1 * GiB);
    expect(sim.stub).toBeInstanceOf(LinuxEfiStub);
    expect(sim.detector).toBeInstanceOf(ReservedMemoryMagicDetector);
    expect(sim.detector.name).toBe('reserved-memory-magic');
  });

  it('a record encoded by hand with the issued secret is what the stub accepts (the MAC binds every field)', async () => {
    const sim = machine(52, 1 * GiB);
    await bootAndArm(sim);
    const key = new Uint8Array(Buffer.from(sim.ctx.state.bootSecret!.keyHex, 'hex'));
    await panicAndReset(sim);
    const slot = sim.ctx.state.kernel!.handoffSlot;
    const page = new Uint8Array(PAGE_SIZE);
    sim.ctx.machine.memory.read(slot, page);
    const genuine = decodeHandoffRecord(decodeZone(page, 'slot').data, 'slot');
    sim.ctx.machine.memory.write(slot, encodeZone(encodeHandoffRecord({ ...genuine, reason: 'a different reason' }, key)));
    await stubAndJudge(sim);
    expect(sim.ctx.state.stub).toMatchObject({ crashedBoot: true, record: { reason: 'a different reason' } });
  });
});
