import path from 'node:path';
import fc from 'fast-check';
import { lastValueFrom, of } from 'rxjs';
import { container, type DependencyContainer } from 'tsyringe';
import {
  bindSlot, catalogOf, EventLog, EXIT, FIRMWARE, GiB, hex, KERNEL, MiB, PAGE_SIZE, parseDesign, parseScenario,
  PhysicalMemory, readJsonFile, Rng, RUN_CONTEXT, systemRamFromMemoryMap, TRANSPORT, TransportError, VirtualClock,
  type Design, type ExitStrategy, type Firmware, type FirstKernel, type HandoffTransport, type PhysRange,
  type RunContext, type SlotKey, type StageOperator,
} from '@efikdump/core';
import { register as registerFirmware } from '@efikdump/firmware-uefi';
import { register as registerKernel, parseCrashkernel, placeCrashkernel } from '@efikdump/kernel-crash';
import { register, ReservedMemoryTransport } from '../index';
import { decodeHandoffRecord, FLAG_ARMED, FLAG_CRASHED, RECORD_HEADER_BYTES, RECORD_MAGIC, RECORD_MAX_BYTES } from './handoff-record.codec';

// ---- harness: a run's child container, bound as core's createRun binds it, up to the exit ----

const CMDLINE = 'ro crashkernel=0M-1G:96M,1G-4G:192M,4G-64G:256M,64G-:512M';
const DESIGN_FILE = path.resolve(__dirname, '../../../../apps/cli/designs/efi-warm-reserved-memory.json');

function designWith(cmdline: string): Design {
  const doc = readJsonFile(DESIGN_FILE) as Record<string, unknown>;
  return parseDesign({ ...doc, kernel: { cmdline } }, DESIGN_FILE);
}

const DESIGN = designWith(CMDLINE);
const SLOTS_USED: SlotKey[] = ['firmware', 'retention', 'kernel', 'transport', 'exit'];

let ROOT: DependencyContainer;
beforeAll(() => {
  ROOT = container.createChildContainer();
  registerFirmware(ROOT);
  registerKernel(ROOT);
  register(ROOT);
});

interface Sim {
  ctx: RunContext;
  firmware: Firmware;
  kernel: FirstKernel;
  transport: HandoffTransport;
  exit: ExitStrategy;
}

function machine(seed: number, ramBytes: number, opts: { cpus?: number; pageWrites?: number; design?: Design } = {}): Sim {
  const design = opts.design ?? DESIGN;
  const scenario = parseScenario({
    format: 'efikdump-scenario/1',
    name: 'transport-test',
    description: 'a small machine for the reserved-memory transport',
    machine: { memory: ramBytes, cpus: opts.cpus ?? 2 },
    workload: { pageWrites: opts.pageWrites ?? 8 },
  }, 'transport-test');
  const run = ROOT.createChildContainer();
  const catalog = catalogOf(ROOT);
  for (const slot of SLOTS_USED) bindSlot(run, catalog, slot, design.components[slot], design.source);
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
  return { ctx, firmware, kernel: run.resolve(KERNEL), transport: run.resolve(TRANSPORT), exit: run.resolve(EXIT) };
}

const runStages = (ctx: RunContext, ...ops: StageOperator[]): Promise<RunContext> =>
  lastValueFrom(ops.reduce((obs, op) => obs.pipe(op), of(ctx)));

/** Power-on, boot, arm, workload: the 1st kernel is up and kdump is loaded. */
async function bootAndArm(sim: Sim): Promise<void> {
  await runStages(sim.ctx, sim.firmware.powerOn(), sim.kernel.boot(), sim.transport.prepare(), sim.kernel.workload());
}

/** A warm reset requested by something other than the panic path (reboot, watchdog), then POST. */
async function cleanWarmReset(sim: Sim): Promise<void> {
  sim.firmware.resetSystem(sim.ctx, 'warm');
  await runStages(sim.ctx, sim.firmware.resetAndPost());
}

async function crashAndReset(sim: Sim): Promise<void> {
  await bootAndArm(sim);
  await runStages(sim.ctx, sim.kernel.panic(), sim.transport.persist(), sim.exit.operator(), sim.firmware.resetAndPost());
}

/** Where the transport must look: the first page of the reservation crashkernel= places. */
function slotOf(ctx: RunContext): number {
  const placement = placeCrashkernel(parseCrashkernel(ctx.design.kernel.cmdline)!, systemRamFromMemoryMap(ctx.state.memoryMap!), ctx.machine.ramBytes);
  return placement!.ranges[0].start;
}

function readSlot(ctx: RunContext, slot: number): Uint8Array {
  const buf = new Uint8Array(RECORD_MAX_BYTES);
  ctx.machine.memory.read(slot, buf);
  return buf;
}

const SIZES_MIB = [256, 768, 1024, 2048, 2816, 3072, 4096, 8192];
const ramArb = fc.oneof(fc.constantFrom(...SIZES_MIB), fc.integer({ min: 256, max: 8192 })).map((m) => m * MiB);
const seedArb = fc.integer({ min: 0, max: 0xffffffff });

// ---- tests ----

describe('ReservedMemoryTransport: the record it keeps', () => {
  it('prepare() arms a record in the first page of the reservation, with no crash time', async () => {
    const sim = machine(11, 4 * GiB);
    await bootAndArm(sim);
    const kernel = sim.ctx.state.kernel!;
    expect(kernel.handoffSlot).toBe(kernel.crashkernel[0].start);
    expect(slotOf(sim.ctx)).toBe(kernel.handoffSlot);
    const record = decodeHandoffRecord(readSlot(sim.ctx, kernel.handoffSlot), 'slot');
    expect(record.flags).toBe(FLAG_ARMED);
    expect(record.info).toEqual({
      version: 1,
      bootNonce: expect.stringMatching(/^[0-9a-f]{16}$/),
      crashkernel: kernel.crashkernel,
      elfcorehdr: kernel.elfcorehdr,
      crashTimeUnix: 0,
      cpus: 2,
    });
    expect(sim.transport.discover(sim.ctx)).toEqual({ found: false, reason: `record at ${hex(kernel.handoffSlot)} is armed but no crash was recorded` });
  });

  it('persist() marks it crashed with the panic time, for no NVRAM and no panic-time cost', async () => {
    const sim = machine(12, 4 * GiB, { cpus: 4 });
    await bootAndArm(sim);
    const kernel = sim.ctx.state.kernel!;
    const armed = decodeHandoffRecord(readSlot(sim.ctx, kernel.handoffSlot), 'slot');
    await runStages(sim.ctx, sim.kernel.panic());
    const before = sim.ctx.clock.nowUs;
    await runStages(sim.ctx, sim.transport.persist());
    expect(sim.ctx.clock.nowUs - before).toBeLessThanOrEqual(1);
    const record = decodeHandoffRecord(readSlot(sim.ctx, kernel.handoffSlot), 'slot');
    expect(record.flags).toBe(FLAG_ARMED | FLAG_CRASHED);
    expect(record.info).toEqual({ ...armed.info, crashTimeUnix: sim.ctx.state.panic!.unixTime });
    const bytes = RECORD_HEADER_BYTES + 16 * kernel.crashkernel.length;
    expect(sim.ctx.state.handoff).toEqual({ transport: 'reserved-memory', location: hex(kernel.handoffSlot), bytes });
    expect(sim.ctx.metrics).toMatchObject({ handoffBytes: bytes, nvramBytesWritten: 0 });
  });

  it('discover() after the warm reset finds exactly what the 1st kernel loaded', async () => {
    await fc.assert(
      fc.asyncProperty(seedArb, ramArb, fc.integer({ min: 1, max: 64 }), async (seed, ramBytes, cpus) => {
        const sim = machine(seed, ramBytes, { cpus });
        await crashAndReset(sim);
        expect(sim.ctx.state.bootCount).toBe(2);
        const kernel = sim.ctx.state.kernel!;
        const found = sim.transport.discover(sim.ctx);
        expect(found).toEqual({
          found: true,
          location: hex(kernel.handoffSlot),
          info: {
            version: 1,
            bootNonce: expect.stringMatching(/^[0-9a-f]{16}$/),
            crashkernel: kernel.crashkernel,
            elfcorehdr: kernel.elfcorehdr,
            crashTimeUnix: sim.ctx.state.panic!.unixTime,
            cpus,
          },
        });
      }),
      { numRuns: 40 },
    );
  });

  it('finds the record in the high region of a two-range (,high) reservation', async () => {
    const sim = machine(13, 8 * GiB, { design: designWith('ro crashkernel=256M,high') });
    await crashAndReset(sim);
    const kernel = sim.ctx.state.kernel!;
    expect(kernel.crashkernel).toHaveLength(2);
    expect(kernel.handoffSlot).toBeGreaterThanOrEqual(4 * GiB);
    const found = sim.transport.discover(sim.ctx);
    expect(found.found && found.info.crashkernel).toEqual(kernel.crashkernel);
  });

  it('fails the stream (not the caller) when the kdump service never loaded an elfcorehdr', async () => {
    const sim = machine(14, 1 * GiB);
    await runStages(sim.ctx, sim.firmware.powerOn());
    let op: StageOperator | undefined;
    expect(() => (op = sim.transport.prepare())).not.toThrow();
    await expect(runStages(sim.ctx, op!)).rejects.toBeInstanceOf(TransportError);
  });
});

describe('ReservedMemoryTransport: a clean boot is never taken for a crashed one', () => {
  it.each(SIZES_MIB)('armed, never crashed, warm reset: nothing found (%i MiB, 40 seeds)', async (mib) => {
    for (let seed = 0; seed < 40; seed++) {
      const sim = machine(mib * 1000 + seed, mib * MiB, { cpus: 1 + (seed % 8) });
      await bootAndArm(sim);
      await cleanWarmReset(sim);
      const found = sim.transport.discover(sim.ctx);
      expect(found).toEqual({ found: false, reason: expect.stringContaining('armed but no crash was recorded') });
    }
  });

  it('never armed, fresh memory of any content: nothing found (320 seeds)', async () => {
    for (let seed = 0; seed < 320; seed++) {
      const sim = machine(0x51ed0000 + seed, SIZES_MIB[seed % SIZES_MIB.length] * MiB);
      await runStages(sim.ctx, sim.firmware.powerOn());
      await cleanWarmReset(sim);
      const slot = slotOf(sim.ctx);
      const page = { start: slot, end: slot + PAGE_SIZE };
      // Whatever the slot page happens to hold: generated content, random bytes, or random bytes
      // behind the record's magic.
      if (seed % 3 === 1) sim.ctx.machine.memory.fill(page, 'anon', seed, 'random slot');
      if (seed % 3 === 2) {
        const junk = new Uint8Array(PAGE_SIZE);
        new Rng(seed).fill(junk);
        junk.set(Buffer.from(RECORD_MAGIC, 'ascii'), 0);
        sim.ctx.machine.memory.write(slot, junk);
      }
      const found = sim.transport.discover(sim.ctx);
      expect(found.found).toBe(false);
      expect(!found.found && found.reason).toMatch(/no valid record/);
    }
  });

  it('after consume() following a crash: nothing found, on this boot and the next', async () => {
    for (let seed = 0; seed < 30; seed++) {
      const sim = machine(0xc0de0000 + seed, SIZES_MIB[seed % SIZES_MIB.length] * MiB);
      await crashAndReset(sim);
      expect(sim.transport.discover(sim.ctx).found).toBe(true);
      sim.transport.consume(sim.ctx);
      expect(sim.transport.discover(sim.ctx)).toEqual({ found: false, reason: expect.stringContaining('handoff record magic') });
      await cleanWarmReset(sim);
      expect(sim.transport.discover(sim.ctx).found).toBe(false);
    }
  });

  it('a record corrupted in one bit is not found, and the reason names the check', async () => {
    const sim = machine(15, 2 * GiB);
    await crashAndReset(sim);
    const slot = sim.ctx.state.kernel!.handoffSlot;
    const length = RECORD_HEADER_BYTES + 16 * sim.ctx.state.kernel!.crashkernel.length;
    const original = readSlot(sim.ctx, slot);
    for (let i = 0; i < length; i++) {
      const bad = original.slice();
      bad[i] ^= 0x10;
      sim.ctx.machine.memory.write(slot, bad);
      const found = sim.transport.discover(sim.ctx);
      expect(found.found).toBe(false);
      expect(!found.found && found.reason).toMatch(new RegExp(`^no valid record at ${hex(slot)}: handoff record (magic|version|header size|length|range count|CRC-32)`));
    }
    sim.ctx.machine.memory.write(slot, original);
    expect(sim.transport.discover(sim.ctx).found).toBe(true);
  });
});

describe('ReservedMemoryTransport: discover() says why there is no record', () => {
  it('before firmware built a memory map', () => {
    const sim = machine(16, 1 * GiB);
    expect(sim.transport.discover(sim.ctx)).toEqual({ found: false, reason: 'no memory map' });
  });

  it('when the command line reserves nothing, or a reservation that cannot be placed (no throw)', async () => {
    const none = machine(17, 1 * GiB, { design: designWith('ro quiet') });
    await runStages(none.ctx, none.firmware.powerOn());
    expect(none.transport.discover(none.ctx)).toEqual({ found: false, reason: 'the command line reserves no crashkernel region' });

    const tooBig = machine(18, 1 * GiB, { design: designWith('ro crashkernel=512M@3G') });
    await runStages(tooBig.ctx, tooBig.firmware.powerOn());
    const found = tooBig.transport.discover(tooBig.ctx);
    expect(found).toEqual({ found: false, reason: expect.stringMatching(/crashkernel="512M@3G": cannot reserve 512MiB/) });
  });

  it('is a class the catalog binds by the design name', () => {
    const run = ROOT.createChildContainer();
    bindSlot(run, catalogOf(ROOT), 'transport', ['reserved-memory']);
    const a = run.resolve(TRANSPORT);
    expect(a).toBeInstanceOf(ReservedMemoryTransport);
    expect(run.resolve(TRANSPORT)).toBe(a);
    expect(a.name).toBe('reserved-memory');
  });
});

/** Helper sanity: the reservation the harness computes is inside System RAM. */
describe('harness', () => {
  it('places the reservation inside System RAM for every size used', async () => {
    for (const mib of SIZES_MIB) {
      const sim = machine(1, mib * MiB);
      await runStages(sim.ctx, sim.firmware.powerOn());
      const ram: PhysRange[] = systemRamFromMemoryMap(sim.ctx.state.memoryMap!);
      const slot = slotOf(sim.ctx);
      expect(ram.some((r) => slot >= r.start && slot + PAGE_SIZE <= r.end)).toBe(true);
    }
  });
});
