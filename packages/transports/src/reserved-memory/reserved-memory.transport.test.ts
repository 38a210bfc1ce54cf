import fc from 'fast-check';
import {
  bindSlot,
  catalogOf,
  GiB,
  hex,
  MiB,
  PAGE_SIZE,
  Rng,
  systemRamFromMemoryMap,
  TRANSPORT,
  TransportError,
  runCrashkernel,
  decodeHandoffRecord,
  FLAG_ARMED,
  FLAG_CRASHED,
  verifyRecordMac,
  type HandoffDiscovery,
  type PhysRange,
  type StageOperator,
} from '@efikdump/core';
import { ReservedMemoryTransport } from '../index';
import { bootAndArm, cleanWarmReset, crashAndReset, designFor, machine, rootContainer, runStages, type Sim } from '../testing/harness';
import { decodeZone, encodeZone, ZONE_BLOCK_BYTES, ZONE_DATA_OFFSET } from './persistent-zone.codec';

const DESIGN = designFor('reserved-memory');
const SIZES_MIB = [256, 768, 1024, 2048, 2816, 4096, 8192];
const ramArb = fc.oneof(fc.constantFrom(...SIZES_MIB), fc.integer({ min: 256, max: 8192 })).map((m) => m * MiB);
const seedArb = fc.integer({ min: 0, max: 0xffffffff });

const sim = (seed: number, ramBytes: number, opts: Parameters<typeof machine>[3] & { cmdline?: string } = {}): Sim =>
  machine(opts.cmdline ? designFor('reserved-memory', { cmdline: opts.cmdline }) : DESIGN, seed, ramBytes, opts);

/** Where the transport must look: the first page of the reservation crashkernel= places. */
function slotOf(s: Sim): number {
  // Where the kernel places crashkernel=: around memblock's early reservations.
  return runCrashkernel(s.ctx, systemRamFromMemoryMap(s.ctx.state.memoryMap!)).placement!.ranges[0].start;
}

const page = (s: Sim, at: number) => {
  const b = new Uint8Array(PAGE_SIZE);
  s.ctx.machine.memory.read(at, b);
  return b;
};

function candidate(d: HandoffDiscovery): Uint8Array {
  if (!d.found) throw new Error(`expected a candidate, found none: ${d.reason}`);
  return d.candidate.record;
}

describe('ReservedMemoryTransport: the zone it keeps', () => {
  it('prepare() arms a signed v2 record inside a persistent zone in the first page of the reservation', async () => {
    const s = sim(11, 4 * GiB);
    const secret = await bootAndArm(s);
    const kernel = s.ctx.state.kernel!;
    expect(kernel.handoffSlot).toBe(kernel.crashkernel[0].start);
    expect(slotOf(s)).toBe(kernel.handoffSlot);
    const { data } = decodeZone(page(s, kernel.handoffSlot), 'slot');
    const record = decodeHandoffRecord(data, 'slot');
    expect(record.flags).toBe(FLAG_ARMED);
    expect(record.info).toEqual({
      version: 2,
      bootNonce: secret.nonce,
      crashkernel: kernel.crashkernel,
      elfcorehdr: kernel.elfcorehdr,
      crashTimeUnix: 0,
      cpus: 2,
    });
    expect(verifyRecordMac(data, secret.key)).toBe(true);
  });

  it('persist() rewrites it crashed, with the panic reason and log tail, for no NVRAM and microseconds', async () => {
    const s = sim(12, 4 * GiB, { cpus: 4 });
    const secret = await bootAndArm(s);
    await runStages(s.ctx, s.kernel.panic());
    const before = s.ctx.clock.nowUs;
    await runStages(s.ctx, s.transport.persist());
    expect(s.ctx.clock.nowUs - before).toBeLessThanOrEqual(5);
    const slot = s.ctx.state.kernel!.handoffSlot;
    const { data } = decodeZone(page(s, slot), 'slot');
    const record = decodeHandoffRecord(data, 'slot');
    expect(record.flags).toBe(FLAG_ARMED | FLAG_CRASHED);
    expect(record.info.crashTimeUnix).toBe(s.ctx.state.panic!.unixTime);
    expect(record.reason).toBe(s.ctx.state.panic!.reason);
    expect(record.logTail).toMatch(/Kernel panic - not syncing: sysrq: Trigger a crash\n/);
    expect(verifyRecordMac(data, secret.key)).toBe(true);
    expect(s.ctx.state.handoff).toEqual({
      transport: 'reserved-memory',
      location: hex(slot),
      bytes: data.length,
      resetData: `efikdump: crash ${secret.nonce}`,
    });
    expect(s.ctx.metrics).toMatchObject({
      handoffBytes: data.length,
      handoffStoredBytes: PAGE_SIZE,
      handoffNvramBytesWritten: 0,
      handoffFailed: false,
    });
  });

  it('discover() after the warm reset returns the record the 1st kernel stored (any seed, size, CPU count)', async () => {
    await fc.assert(
      fc.asyncProperty(seedArb, ramArb, fc.integer({ min: 1, max: 64 }), async (seed, ramBytes, cpus) => {
        const s = sim(seed, ramBytes, { cpus });
        await crashAndReset(s);
        expect(s.ctx.state.bootCount).toBe(2);
        const d = s.transport.discover(s.ctx);
        expect(d).toEqual({
          found: true,
          candidate: {
            source: 'reserved-memory',
            location: hex(s.ctx.state.kernel!.handoffSlot),
            record: expect.any(Uint8Array),
            correctedBytes: 0,
          },
        });
        const record = decodeHandoffRecord(candidate(d), 'slot');
        expect(record.info.crashkernel).toEqual(s.ctx.state.kernel!.crashkernel);
        expect(record.info.cpus).toBe(cpus);
      }),
      { numRuns: 25 },
    );
  });

  it('finds the zone in the high region of a two-range (,high) reservation', async () => {
    const s = sim(13, 8 * GiB, { cmdline: 'ro crashkernel=256M,high' });
    await crashAndReset(s);
    expect(s.ctx.state.kernel!.crashkernel).toHaveLength(2);
    expect(s.ctx.state.kernel!.handoffSlot).toBeGreaterThanOrEqual(4 * GiB);
    expect(decodeHandoffRecord(candidate(s.transport.discover(s.ctx)), 'slot').info.crashkernel).toEqual(s.ctx.state.kernel!.crashkernel);
  });

  it('fails the stream (not the caller) when the kdump service never loaded an elfcorehdr', async () => {
    const s = sim(14, 1 * GiB);
    await runStages(s.ctx, s.firmware.powerOn());
    let op: StageOperator | undefined;
    expect(() => (op = s.transport.prepare())).not.toThrow();
    await expect(runStages(s.ctx, op!)).rejects.toBeInstanceOf(TransportError);
  });

  it('without a boot secret the record goes out unsigned, with a warning', async () => {
    const s = sim(15, 1 * GiB);
    await runStages(s.ctx, s.firmware.powerOn(), s.kernel.boot(), s.transport.prepare());
    expect(s.ctx.log.timeline.some((e) => e.kind === 'warn' && /issued no boot secret/.test(e.message))).toBe(true);
    const { data } = decodeZone(page(s, s.ctx.state.kernel!.handoffSlot), 'slot');
    expect(decodeHandoffRecord(data, 'slot').mac).toEqual(new Uint8Array(32));
  });
});

describe('ReservedMemoryTransport: what survives the reset', () => {
  it('scattered bit flips (decay) are repaired by the parity; the record comes back intact', async () => {
    for (let seed = 0; seed < 12; seed++) {
      const s = sim(0xdeca0000 + seed, 1 * GiB);
      await crashAndReset(s);
      const slot = s.ctx.state.kernel!.handoffSlot;
      const original = decodeZone(page(s, slot), 'slot').data;
      const damaged = page(s, slot);
      const rng = new Rng(seed);
      const blocks = Math.ceil(original.length / ZONE_BLOCK_BYTES);
      for (let b = 0; b < blocks; b++) {
        for (let k = 0; k < 1 + rng.below(8); k++)
          damaged[ZONE_DATA_OFFSET + b * ZONE_BLOCK_BYTES + rng.below(ZONE_BLOCK_BYTES)] ^= 1 << rng.below(8);
      }
      s.ctx.machine.memory.write(slot, damaged);
      const d = s.transport.discover(s.ctx);
      expect(d.found && d.candidate.correctedBytes).toBeGreaterThan(0);
      expect(candidate(d)).toEqual(original);
    }
  });

  it('damage beyond the parity is reported as a corrupt zone, never as a record', async () => {
    const s = sim(16, 1 * GiB);
    await crashAndReset(s);
    const slot = s.ctx.state.kernel!.handoffSlot;
    const damaged = page(s, slot);
    for (let i = 0; i < 40; i++) damaged[ZONE_DATA_OFFSET + i] ^= 0xff;
    s.ctx.machine.memory.write(slot, damaged);
    expect(s.transport.discover(s.ctx)).toEqual({
      found: false,
      reason: expect.stringMatching(/^damaged persistent zone at 0x[0-9a-f]+: persistent zone block 0/),
      damage: 'corrupt',
    });
  });

  it('a page the firmware overwrote (scratch, MOR, ECC init) holds nothing of ours', async () => {
    const s = sim(17, 1 * GiB);
    await crashAndReset(s);
    const slot = s.ctx.state.kernel!.handoffSlot;
    s.ctx.machine.memory.fill({ start: slot, end: slot + PAGE_SIZE }, 'slab', 3, 'firmware scratch');
    expect(s.transport.discover(s.ctx)).toEqual({
      found: false,
      reason: expect.stringMatching(/^no persistent zone at 0x[0-9a-f]+: persistent zone signature/),
    });
  });

  it('armed, never crashed, clean warm reset: the armed record is what discover() returns (the stub reads its flags)', async () => {
    for (let seed = 0; seed < 10; seed++) {
      const s = sim(0xa4ed0000 + seed, SIZES_MIB[seed % SIZES_MIB.length] * MiB);
      await bootAndArm(s);
      await cleanWarmReset(s);
      expect(decodeHandoffRecord(candidate(s.transport.discover(s.ctx)), 'slot').flags).toBe(FLAG_ARMED);
    }
  });

  it('never armed, memory of any content: nothing found without a zone; a zone of junk comes back as it is, for the stub to refuse (150 seeds)', async () => {
    for (let seed = 0; seed < 150; seed++) {
      const s = sim(0x51ed0000 + seed, SIZES_MIB[seed % SIZES_MIB.length] * MiB);
      await runStages(s.ctx, s.firmware.powerOn());
      await cleanWarmReset(s);
      const slot = slotOf(s);
      if (seed % 3 === 1) s.ctx.machine.memory.fill({ start: slot, end: slot + PAGE_SIZE }, 'anon', seed, 'random slot');
      if (seed % 3 === 2) {
        // Random data inside a valid zone: signature and parity right, no record inside.
        const junk = new Uint8Array(200 + (seed % 1000));
        new Rng(seed).fill(junk);
        s.ctx.machine.memory.write(slot, encodeZone(junk));
      }
      const d = s.transport.discover(s.ctx);
      if (seed % 3 === 2) expect(d.found && d.candidate.record.length).toBe(200 + (seed % 1000));
      else expect(d).toEqual({ found: false, reason: expect.stringMatching(/^no persistent zone at /) });
    }
  });

  it('after consume(): nothing found, on this boot and the next', async () => {
    for (let seed = 0; seed < 8; seed++) {
      const s = sim(0xc0de0000 + seed, SIZES_MIB[seed % SIZES_MIB.length] * MiB);
      await crashAndReset(s);
      expect(s.transport.discover(s.ctx).found).toBe(true);
      s.transport.consume(s.ctx);
      expect(s.transport.discover(s.ctx)).toEqual({ found: false, reason: expect.stringContaining('no persistent zone') });
      await cleanWarmReset(s);
      expect(s.transport.discover(s.ctx).found).toBe(false);
    }
  });

  it('artifacts(): the zone page and the record it holds', async () => {
    const s = sim(18, 1 * GiB);
    await crashAndReset(s);
    const files = s.transport.artifacts!(s.ctx);
    expect(files.map((f) => f.path)).toEqual(['reserved-zone.bin', 'handoff-record.bin']);
    expect(files[0].bytes).toHaveLength(PAGE_SIZE);
    expect(decodeZone(files[0].bytes, 'zone').data).toEqual(files[1].bytes);
  });
});

describe('ReservedMemoryTransport: discover() says why there is nothing', () => {
  it('before firmware built a memory map', () => {
    const s = sim(19, 1 * GiB);
    expect(s.transport.discover(s.ctx)).toEqual({ found: false, reason: 'no memory map' });
  });

  it('when the command line reserves nothing, or a reservation that cannot be placed (no throw)', async () => {
    const none = sim(20, 1 * GiB, { cmdline: 'ro quiet' });
    await runStages(none.ctx, none.firmware.powerOn());
    expect(none.transport.discover(none.ctx)).toEqual({ found: false, reason: 'the command line reserves no crashkernel region' });
    const tooBig = sim(21, 1 * GiB, { cmdline: 'ro crashkernel=512M@3G' });
    await runStages(tooBig.ctx, tooBig.firmware.powerOn());
    expect(tooBig.transport.discover(tooBig.ctx)).toEqual({
      found: false,
      reason: expect.stringMatching(/crashkernel="512M@3G": cannot reserve 512MiB/),
    });
  });

  it('is a class the catalog binds by the design name', () => {
    const run = rootContainer().createChildContainer();
    bindSlot(run, catalogOf(rootContainer()), 'transport', ['reserved-memory']);
    const a = run.resolve(TRANSPORT);
    expect(a).toBeInstanceOf(ReservedMemoryTransport);
    expect(run.resolve(TRANSPORT)).toBe(a);
    expect(a.name).toBe('reserved-memory');
  });

  it('places the reservation inside System RAM for every size used', async () => {
    for (const mib of SIZES_MIB) {
      const s = sim(1, mib * MiB);
      await runStages(s.ctx, s.firmware.powerOn());
      const ram: PhysRange[] = systemRamFromMemoryMap(s.ctx.state.memoryMap!);
      const slot = slotOf(s);
      expect(ram.some((r) => slot >= r.start && slot + PAGE_SIZE <= r.end)).toBe(true);
    }
  });
});
