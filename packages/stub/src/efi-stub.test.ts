import { createHash } from 'node:crypto';
import path from 'node:path';
import fc from 'fast-check';
import { lastValueFrom, of } from 'rxjs';
import { container, type DependencyContainer } from 'tsyringe';
import {
  bindSlot, catalogOf, createRun, DETECTOR, EventLog, EXIT, FIRMWARE, GiB, hex, KERNEL, MiB, PAGE_SIZE, pageAlignUp,
  parseDesign, parseScenario, PhysicalMemory, readJsonFile, Rng, RUN_CONTEXT, STUB, systemRamFromMemoryMap, totalSize,
  TRANSPORT, VirtualClock,
  type CrashDetector, type Design, type EfiStub, type ExitStrategy, type Firmware, type FirstKernel, type HandoffInfo,
  type HandoffTransport, type PhysRange, type RunContext, type SlotKey, type StageOperator,
} from '@efikdump/core';
import { register as registerFirmware } from '@efikdump/firmware-uefi';
import { register as registerKernel, parseCrashkernel, placeCrashkernel } from '@efikdump/kernel-crash';
import { register as registerTransports } from '@efikdump/transports';
import { register as registerVmcore } from '@efikdump/vmcore';
import { CAPTURE_CMDLINE_EXTRA, LinuxEfiStub, MAX_ELFCOREHDR_BYTES, register, ReservedMemoryMagicDetector, validateHandoff } from './index';

// ---- harness: a run's child container bound as core's createRun binds it, up to the stub ----

const CMDLINE = 'ro crashkernel=0M-1G:96M,1G-4G:192M,4G-64G:256M,64G-:512M';
const DESIGN_FILE = path.resolve(__dirname, '../../../apps/cli/designs/efi-warm-reserved-memory.json');

function designWith(cmdline: string): Design {
  const doc = readJsonFile(DESIGN_FILE) as Record<string, unknown>;
  return parseDesign({ ...doc, kernel: { cmdline } }, DESIGN_FILE);
}

const DESIGN = designWith(CMDLINE);
const SLOTS_UP_TO_STUB: SlotKey[] = ['firmware', 'retention', 'kernel', 'transport', 'exit', 'detector', 'stub'];

let ROOT: DependencyContainer;
beforeAll(() => {
  ROOT = container.createChildContainer();
  registerFirmware(ROOT);
  registerKernel(ROOT);
  registerTransports(ROOT);
  registerVmcore(ROOT);
  register(ROOT);
});

function scenarioFor(ramBytes: number, cpus: number, pageWrites: number) {
  return parseScenario({
    format: 'efikdump-scenario/1',
    name: 'stub-test',
    description: 'a small machine for the EFI stub',
    machine: { memory: ramBytes, cpus },
    workload: { pageWrites },
  }, 'stub-test');
}

interface Sim {
  ctx: RunContext;
  firmware: Firmware;
  kernel: FirstKernel;
  transport: HandoffTransport;
  exit: ExitStrategy;
  detector: CrashDetector;
  stub: EfiStub;
}

function machine(seed: number, ramBytes: number, opts: { cpus?: number; pageWrites?: number; design?: Design } = {}): Sim {
  const design = opts.design ?? DESIGN;
  const scenario = scenarioFor(ramBytes, opts.cpus ?? 2, opts.pageWrites ?? 8);
  const run = ROOT.createChildContainer();
  const catalog = catalogOf(ROOT);
  for (const slot of SLOTS_UP_TO_STUB) bindSlot(run, catalog, slot, design.components[slot], design.source);
  const firmware = run.resolve(FIRMWARE);
  const clock = new VirtualClock();
  const ctx: RunContext = {
    seed,
    design,
    scenario,
    options: { truthPages: 16, truthZeroPages: 4 },
    machine: { ramBytes, cpus: scenario.machine.cpus, memory: new PhysicalMemory({ seed, ram: firmware.ramLayout(ramBytes) }) },
    clock,
    rng: new Rng(seed, 0x5eed),
    log: new EventLog(clock),
    state: { bootCount: 0 },
    metrics: {},
    artifacts: {},
  };
  run.registerInstance(RUN_CONTEXT, ctx);
  return {
    ctx, firmware,
    kernel: run.resolve(KERNEL),
    transport: run.resolve(TRANSPORT),
    exit: run.resolve(EXIT),
    detector: run.resolve(DETECTOR),
    stub: run.resolve(STUB),
  };
}

const runStages = (ctx: RunContext, ...ops: StageOperator[]): Promise<RunContext> =>
  lastValueFrom(ops.reduce((obs, op) => obs.pipe(op), of(ctx)));

async function bootAndArm(sim: Sim): Promise<void> {
  await runStages(sim.ctx, sim.firmware.powerOn(), sim.kernel.boot(), sim.transport.prepare(), sim.kernel.workload());
}

/** A warm reset that the panic path did not request (reboot, watchdog), POST, then the stub. */
async function cleanWarmResetToStub(sim: Sim): Promise<void> {
  sim.firmware.resetSystem(sim.ctx, 'warm');
  await runStages(sim.ctx, sim.firmware.resetAndPost(), sim.stub.operator());
}

async function panicAndReset(sim: Sim): Promise<void> {
  await runStages(sim.ctx, sim.kernel.panic(), sim.transport.persist(), sim.exit.operator(), sim.firmware.resetAndPost());
}

function slotOf(ctx: RunContext): number {
  const placement = placeCrashkernel(parseCrashkernel(ctx.design.kernel.cmdline)!, systemRamFromMemoryMap(ctx.state.memoryMap!), ctx.machine.ramBytes);
  return placement!.ranges[0].start;
}

function expectNormalBoot(ctx: RunContext, reason: RegExp): void {
  expect(ctx.state.stub).toEqual({ crashedBoot: false, detector: 'reserved-memory-magic', reason: expect.stringMatching(reason) });
  expect(ctx.outcome).toEqual({ outcome: 'no-dump', reason: expect.stringMatching(/^the stub booted normally: /) });
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
  it.each(SIZES_MIB)('armed, no panic, warm reset: normal boot, no dump (%i MiB, 55 seeds)', async (mib) => {
    for (let seed = 0; seed < 55; seed++) {
      const sim = machine(mib * 7919 + seed, mib * MiB, { cpus: 1 + (seed % 8) });
      await bootAndArm(sim);
      await cleanWarmResetToStub(sim);
      expectNormalBoot(sim.ctx, /is armed but no crash was recorded$/);
      expect(sim.ctx.state.bootCount).toBe(2);
    }
  });

  it('nothing ever armed, memory of any content: normal boot (330 seeds)', async () => {
    for (let seed = 0; seed < 330; seed++) {
      const sim = machine(0xf4e50000 + seed, SIZES_MIB[seed % SIZES_MIB.length] * MiB);
      const variant = seed % 4;
      // 0: fresh generated memory; 1: random slot page; 2: random bytes behind the magic;
      // 3: the 1st kernel loaded kdump but the transport was never armed.
      await runStages(sim.ctx, sim.firmware.powerOn(), ...(variant === 3 ? [sim.kernel.boot(), sim.kernel.workload()] : []));
      const slot = slotOf(sim.ctx);
      if (variant === 1) sim.ctx.machine.memory.fill({ start: slot, end: slot + PAGE_SIZE }, 'anon', seed, 'random');
      if (variant === 2) {
        const junk = new Uint8Array(PAGE_SIZE);
        new Rng(seed, 2).fill(junk);
        junk.set(Buffer.from('EFIKDUMP', 'ascii'), 0);
        sim.ctx.machine.memory.write(slot, junk);
      }
      await cleanWarmResetToStub(sim);
      expectNormalBoot(sim.ctx, new RegExp(`^no valid record at ${hex(slot)}: handoff record `));
    }
  });

  it('after consume() following a crash: the next boots are normal ones', async () => {
    for (let seed = 0; seed < 24; seed++) {
      const sim = machine(0xc0c0 + seed, SIZES_MIB[seed % SIZES_MIB.length] * MiB, { cpus: 1 + (seed % 4) });
      await bootAndArm(sim);
      await panicAndReset(sim);
      await runStages(sim.ctx, sim.stub.operator());
      expect(sim.ctx.state.stub?.crashedBoot).toBe(true);
      // The capture kernel saved the dump and cleared the record, then rebooted (twice).
      sim.transport.consume(sim.ctx);
      await cleanWarmResetToStub(sim);
      expectNormalBoot(sim.ctx, /handoff record magic/);
      delete sim.ctx.outcome;
      await cleanWarmResetToStub(sim);
      expectNormalBoot(sim.ctx, /handoff record magic/);
      expect(sim.ctx.state.bootCount).toBe(4);
    }
  });
});

// ---- (b) a real crash boots the capture kernel inside the reservation ----

describe('LinuxEfiStub: after a panic and a warm reset', () => {
  async function crashedBoot(seed: number, ramBytes: number, cpus: number, design?: Design): Promise<Sim> {
    const sim = machine(seed, ramBytes, { cpus, design });
    await bootAndArm(sim);
    await panicAndReset(sim);
    await runStages(sim.ctx, sim.stub.operator());
    return sim;
  }

  function expectCaptureBoot(sim: Sim): void {
    const { ctx } = sim;
    const kernel = ctx.state.kernel!;
    const hdr = kernel.elfcorehdr!;
    const stub = ctx.state.stub!;
    expect(ctx.outcome).toBeUndefined();
    expect(stub.crashedBoot).toBe(true);
    expect(stub.detector).toBe('reserved-memory-magic');
    expect(stub.reason).toBe(`reserved-memory record at ${hex(kernel.handoffSlot)}`);
    expect(stub.handoff).toEqual({
      version: 1,
      bootNonce: expect.stringMatching(/^[0-9a-f]{16}$/),
      crashkernel: kernel.crashkernel,
      elfcorehdr: hdr,
      crashTimeUnix: ctx.state.panic!.unixTime,
      cpus: ctx.machine.cpus,
    });

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
    expect(ctx.log.timeline.some((e) => e.stage === 'stub' && e.kind === 'info' && e.message.startsWith('crashed boot detected'))).toBe(true);
  }

  it('detects the crashed boot and limits the capture kernel to the reservation (any seed, size, CPU count)', async () => {
    await fc.assert(
      fc.asyncProperty(seedArb, ramArb, fc.integer({ min: 1, max: 64 }), async (seed, ramBytes, cpus) => {
        expectCaptureBoot(await crashedBoot(seed, ramBytes, cpus));
      }),
      { numRuns: 80 },
    );
  });

  it('with a two-range (,high) reservation: both ranges, less the slot and the elfcorehdr', async () => {
    const sim = await crashedBoot(21, 8 * GiB, 4, designWith('ro crashkernel=384M,high crashkernel=128M,low'));
    const kernel = sim.ctx.state.kernel!;
    expect(kernel.crashkernel).toHaveLength(2);
    expectCaptureBoot(sim);
    expect(memmapRanges(sim.ctx.state.stub!.captureCmdline!).length).toBeGreaterThanOrEqual(2);
  });

  it('the full pipeline with the vmcore package ends in a complete, verified dump', async () => {
    const scenarioDoc = readJsonFile(path.resolve(__dirname, '../../../apps/cli/scenarios/healthy.json'));
    const scenario = parseScenario(scenarioDoc, 'healthy.json');
    for (const [seed, mib] of [[1, 256], [2, 1024], [3, 4096], [4, 8192]] as const) {
      const result = await createRun(ROOT, { design: DESIGN, scenario, seed, ramBytes: mib * MiB, options: { truthPages: 128, truthZeroPages: 32 } }).start();
      expect({ mib, outcome: result.outcome }).toEqual({ mib, outcome: 'dump-complete' });
      const stubEvent = result.timeline.find((e) => e.stage === 'stub' && e.kind === 'info');
      expect(stubEvent?.message).toMatch(/^crashed boot detected \(reserved-memory record at 0x[0-9a-f]+\); booting the capture kernel with elfcorehdr=\d+K$/);
    }
  });
});

// ---- (c) an elfcorehdr changed after it was recorded is rejected ----

describe('LinuxEfiStub: a handoff that does not check out is rejected', () => {
  it('one bit of the elfcorehdr changed in memory after persist: no dump, SHA-256 named', async () => {
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
        await runStages(sim.ctx, sim.exit.operator(), sim.firmware.resetAndPost(), sim.stub.operator());
        expect(sim.ctx.state.stub).toEqual({
          crashedBoot: false,
          detector: 'reserved-memory-magic',
          reason: `elfcorehdr at ${hex(hdr.paddr)} does not match its SHA-256`,
        });
        expect(sim.ctx.outcome).toEqual({ outcome: 'no-dump', reason: `handoff rejected: elfcorehdr at ${hex(hdr.paddr)} does not match its SHA-256` });
      }),
      { numRuns: 60 },
    );
  });

  it('one bit of the record changed: the detector finds no crash', async () => {
    const sim = machine(31, 2 * GiB);
    await bootAndArm(sim);
    await panicAndReset(sim);
    const slot = sim.ctx.state.kernel!.handoffSlot;
    const byte = new Uint8Array(1);
    sim.ctx.machine.memory.read(slot + 70, byte);
    byte[0] ^= 4;
    sim.ctx.machine.memory.write(slot + 70, byte);
    await runStages(sim.ctx, sim.stub.operator());
    expectNormalBoot(sim.ctx, /handoff record CRC-32/);
  });
});

// ---- (d) validateHandoff ----

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
    info = found.info;
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
    ['over firmware reserved, ACPI and runtime memory (RAM, but not System RAM)', () => {
      const fw = sim.ctx.state.memoryMap!.find((d) => d.type === 0)!; // EfiReservedMemoryType
      return { start: fw.start - 16 * MiB, end: fw.start + fw.pages * PAGE_SIZE };
    }],
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
    // A copy of the real header just below the reservation, in System RAM, with its digest.
    const copyAt = r.start - 2 * PAGE_SIZE;
    const hdr = new Uint8Array(size);
    sim.ctx.machine.memory.read(paddr, hdr);
    sim.ctx.machine.memory.write(copyAt, hdr);
    expect(check({ elfcorehdr: { paddr: copyAt, size, sha256: info.elfcorehdr.sha256 } })).toBe(`elfcorehdr ${hex(copyAt)}+${size} is outside the reservation`);
    // Straddling the end of the reservation.
    const straddle = r.end - PAGE_SIZE;
    const long = PAGE_SIZE + 64;
    expect(check({ elfcorehdr: { paddr: straddle, size: long, sha256: sha(straddle - PAGE_SIZE, long) } })).toBe(`elfcorehdr ${hex(straddle)}+${long} is outside the reservation`);
    // Far away in high RAM.
    expect(check({ elfcorehdr: { paddr: 6 * GiB, size, sha256: sha(6 * GiB, size) } })).toBe(`elfcorehdr ${hex(6 * GiB)}+${size} is outside the reservation`);
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
    expect(check({ elfcorehdr: { ...info.elfcorehdr, sha256: '0'.repeat(64) } })).toBe(`elfcorehdr at ${hex(paddr)} does not match its SHA-256`);
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
});

describe('wiring', () => {
  it('the stub gets the design\'s detector, and the detector the run\'s transport, by injection', () => {
    const sim = machine(51, 1 * GiB);
    expect(sim.stub).toBeInstanceOf(LinuxEfiStub);
    expect(sim.detector).toBeInstanceOf(ReservedMemoryMagicDetector);
    expect(sim.detector.name).toBe('reserved-memory-magic');
  });
});
