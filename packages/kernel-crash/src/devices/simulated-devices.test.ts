import { createHash } from 'node:crypto';
import {
  EventLog,
  GiB,
  hex,
  MiB,
  PAGE_SIZE,
  PhysicalMemory,
  Rng,
  SimulationError,
  VirtualClock,
  type Design,
  type DeviceSpec,
  type KernelState,
  type PhysRange,
  type RunContext,
  type Scenario,
  type TruthManifest,
} from '@efikdump/core';
import { dmaInFlightAtPanic, SimulatedDevices, simulatedDevicesOf } from './simulated-devices';

// The model as the other stages call it: through the run's `MachineDevices` (nothing happens without devices).
const runDma = (ctx: RunContext, durationUs: number, translation: 'kernel' | 'none', during: string): void =>
  ctx.state.devices?.runDma(ctx, durationUs, translation, during);
const resetDevices = (ctx: RunContext, by: 'warm-reset' | 'cold-reset' | 'probe'): void => ctx.state.devices?.reset(ctx, by);
const fatalDmaDamage = (ctx: RunContext): string | undefined => ctx.state.devices?.fatalDamage();

const FOUR_GIB = 4 * GiB;

function makeContext(ram: PhysRange[], seed = 7): RunContext {
  const memory = new PhysicalMemory({ seed, ram });
  const clock = new VirtualClock();
  return {
    seed,
    design: { name: 'test' } as unknown as Design,
    scenario: { name: 'test' } as unknown as Scenario,
    options: { truthPages: 0, truthZeroPages: 0 },
    machine: { ramBytes: memory.ramBytes, cpus: 2, memory },
    clock,
    rng: new Rng(seed),
    log: new EventLog(clock),
    state: { bootCount: 1 },
    metrics: {},
    artifacts: {},
  };
}

function spec(name: string, over: Partial<DeviceSpec> = {}): DeviceSpec {
  return {
    name,
    kind: 'nic',
    inflightRate: 1,
    bufferPages: 32,
    dmaPagesPerSecond: 1000,
    iovaSpanBytes: 64 * MiB,
    warmReset: true,
    captureDriver: true,
    probeResetFailRate: 0,
    ...over,
  };
}

/** The 1st kernel's state as far as runDma looks at it. */
function setKernel(ctx: RunContext, k: { systemRam: PhysRange[]; crashkernel: PhysRange[]; panicWrites?: PhysRange[] }): KernelState {
  const bufs = (simulatedDevicesOf(ctx)?.devices ?? []).flatMap((d) => d.bufferPages.map((p) => ({ start: p, end: p + PAGE_SIZE })));
  const kernel = {
    cmdline: 'ro',
    osrelease: 'test',
    systemRam: k.systemRam,
    crashkernel: k.crashkernel,
    kernelText: { paddr: 16 * MiB, vaddr: 0xffffffff81000000n, size: 0 },
    crashNotes: [],
    crashNotesBytes: 0,
    vmcoreinfo: { paddr: 0, size: 0 },
    panicWrites: k.panicWrites ?? [],
    handoffSlot: k.crashkernel[0]?.start ?? 0,
    dmaBuffers: bufs,
  } as KernelState;
  ctx.state.kernel = kernel;
  return kernel;
}

const inRanges = (ranges: readonly PhysRange[], a: number): boolean => ranges.some((r) => a >= r.start && a < r.end);

function pageBytes(ctx: RunContext, paddr: number): Uint8Array {
  const b = new Uint8Array(PAGE_SIZE);
  ctx.machine.memory.readPage(paddr / PAGE_SIZE, b);
  return b;
}
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const sorted = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);
const emptyTruth = (): TruthManifest => ({ format: 'efikdump-truth/1', pageSize: PAGE_SIZE, pages: [], zeroPages: [], excluded: [] });

describe('SimulatedDevices.attach', () => {
  const RAM: PhysRange[] = [
    { start: 0x100000, end: 2 * GiB },
    { start: FOUR_GIB, end: FOUR_GIB + GiB },
  ];

  it('gives each device its buffer pages, page aligned, in free RAM, outside the avoided ranges and not shared', () => {
    const ctx = makeContext(RAM);
    const avoid: PhysRange[] = [
      { start: 0x100000, end: 64 * MiB },
      { start: 100 * MiB, end: 900 * MiB },
      { start: 1000 * MiB, end: 2 * GiB },
      { start: FOUR_GIB, end: FOUR_GIB + 512 * MiB },
    ];
    // Free RAM computed by hand: RAM minus avoid.
    const free: PhysRange[] = [
      { start: 64 * MiB, end: 100 * MiB },
      { start: 900 * MiB, end: 1000 * MiB },
      { start: FOUR_GIB + 512 * MiB, end: FOUR_GIB + GiB },
    ];
    const specs = [
      spec('nic0', { bufferPages: 256 }),
      spec('nvme0', { kind: 'nvme', bufferPages: 64 }),
      spec('gpu0', { kind: 'gpu', bufferPages: 37 }),
    ];
    const state = SimulatedDevices.attach(ctx, specs, 'off', free);
    expect(ctx.state.devices).toBe(state);
    expect(state.devices.map((d) => d.spec.name)).toEqual(['nic0', 'nvme0', 'gpu0']);
    const all: number[] = [];
    for (const d of state.devices) {
      expect(d.bufferPages).toHaveLength(d.spec.bufferPages);
      for (const p of d.bufferPages) {
        expect(p % PAGE_SIZE).toBe(0);
        expect(inRanges(free, p) && inRanges(free, p + PAGE_SIZE - 1)).toBe(true);
        expect(inRanges(avoid, p)).toBe(false);
      }
      all.push(...d.bufferPages);
      expect(d.running).toBe(false);
    }
    expect(new Set(all).size).toBe(all.length);
    expect(state.damage).toEqual({ bufferPages: 0, oldMemoryPages: [], captureMemoryPages: [], holeWrites: [], strayDevices: [] });
  });

  it('uses only the whole pages of unaligned free ranges', () => {
    const ctx = makeContext(RAM);
    const state = SimulatedDevices.attach(ctx, [spec('a', { bufferPages: 40 })], 'off', [{ start: 0x100800, end: 0x180800 }]);
    for (const p of state.devices[0].bufferPages) {
      expect(p % PAGE_SIZE).toBe(0);
      expect(p).toBeGreaterThanOrEqual(0x101000);
      expect(p + PAGE_SIZE).toBeLessThanOrEqual(0x180000);
    }
  });

  it('is deterministic per seed', () => {
    const specs = [spec('nic0', { bufferPages: 100 }), spec('nvme0', { bufferPages: 20 })];
    const free: PhysRange[] = [{ start: 0x100000, end: 2 * GiB }];
    const place = (seed: number) =>
      SimulatedDevices.attach(makeContext(RAM, seed), specs, 'translated', free).devices.map((d) => ({
        pages: d.bufferPages,
        dma: d.dmaAddresses,
        head: d.ringHead,
      }));
    expect(place(11)).toEqual(place(11));
    expect(place(11).map((d) => d.pages)).not.toEqual(place(12).map((d) => d.pages));
  });

  it('under a translated IOMMU gives DMA addresses below 4 GiB inside the IOVA span, even for buffers above 4 GiB', () => {
    const ctx = makeContext(RAM);
    const span = 256 * MiB;
    const state = SimulatedDevices.attach(ctx, [spec('nic0', { bufferPages: 200, iovaSpanBytes: span })], 'translated', [
      { start: FOUR_GIB, end: FOUR_GIB + GiB },
    ]);
    const d = state.devices[0];
    expect(d.dmaAddresses).toHaveLength(d.bufferPages.length);
    for (const p of d.bufferPages) expect(p).toBeGreaterThanOrEqual(FOUR_GIB);
    for (const a of d.dmaAddresses) {
      expect(a % PAGE_SIZE).toBe(0);
      expect(a + PAGE_SIZE).toBeLessThanOrEqual(FOUR_GIB);
      expect(a).toBeGreaterThanOrEqual(FOUR_GIB - span);
    }
  });

  it('maps each buffer page to its own IOVA, even when the span is exactly as large as the buffers, and refuses a smaller span', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const d = SimulatedDevices.attach(makeContext(RAM, seed), [spec('nic0', { bufferPages: 256, iovaSpanBytes: GiB })], 'translated', [
        { start: 0x100000, end: GiB },
      ]).devices[0];
      expect(new Set(d.dmaAddresses).size).toBe(256);
    }
    const tight = SimulatedDevices.attach(
      makeContext(RAM),
      [spec('nic0', { bufferPages: 64, iovaSpanBytes: 64 * PAGE_SIZE })],
      'translated',
      [{ start: 0x100000, end: GiB }],
    ).devices[0];
    expect(sorted(tight.dmaAddresses)).toEqual(Array.from({ length: 64 }, (_, i) => FOUR_GIB - (64 - i) * PAGE_SIZE));
    expect(() =>
      SimulatedDevices.attach(makeContext(RAM), [spec('nic0', { bufferPages: 64, iovaSpanBytes: 63 * PAGE_SIZE })], 'translated', [
        { start: 0x100000, end: GiB },
      ]),
    ).toThrow(/cannot map 64 buffer pages/);
  });

  it.each(['off', 'passthrough'] as const)('under iommu %s uses the physical addresses as DMA addresses', (iommu) => {
    const ctx = makeContext(RAM);
    const d = SimulatedDevices.attach(ctx, [spec('nic0', { bufferPages: 48 })], iommu, [{ start: 0x100000, end: GiB }]).devices[0];
    expect(d.dmaAddresses).toEqual(d.bufferPages);
  });

  it('fails with a SimulationError when free RAM cannot hold the buffers', () => {
    const ctx = makeContext(RAM);
    expect(() =>
      SimulatedDevices.attach(ctx, [spec('big', { bufferPages: 64 })], 'off', [{ start: 0x100000, end: 0x100000 + 32 * PAGE_SIZE }]),
    ).toThrow(SimulationError);
  });
});

describe('dmaInFlightAtPanic', () => {
  const RAM: PhysRange[] = [{ start: 0x100000, end: GiB }];

  it('returns nothing without devices', () => {
    expect(dmaInFlightAtPanic(makeContext(RAM))).toEqual([]);
  });

  it('with rate 0 no device runs; with rate 1 every device runs and the panic says so', () => {
    const ctx = makeContext(RAM);
    SimulatedDevices.attach(
      ctx,
      [spec('quiet', { inflightRate: 0 }), spec('busy', { inflightRate: 1 }), spec('busy2', { inflightRate: 1 })],
      'off',
      RAM,
    );
    const running = dmaInFlightAtPanic(ctx);
    expect(running.map((d) => d.spec.name)).toEqual(['busy', 'busy2']);
    expect(simulatedDevicesOf(ctx)!.devices.map((d) => d.running)).toEqual([false, true, true]);
    expect(ctx.metrics.dmaDevicesInFlight).toBe(2);
    const msg = ctx.log.timeline.find((e) => e.stage === 'panic')?.message ?? '';
    expect(msg).toContain('busy');
    expect(msg).toContain('busy2');
    expect(msg).not.toContain('quiet');
  });

  it('records zero devices in flight when none runs', () => {
    const ctx = makeContext(RAM);
    SimulatedDevices.attach(ctx, [spec('a', { inflightRate: 0 })], 'off', RAM);
    expect(dmaInFlightAtPanic(ctx)).toEqual([]);
    expect(ctx.metrics.dmaDevicesInFlight).toBe(0);
    expect(ctx.log.timeline.filter((e) => e.stage === 'panic')).toEqual([]);
  });
});

describe('runDma', () => {
  const LOW: PhysRange = { start: 0x100000, end: GiB };

  it('does nothing without devices, for non-positive durations or for stopped devices', () => {
    const ctx = makeContext([LOW]);
    runDma(ctx, 1e6, 'kernel', 'test');
    SimulatedDevices.attach(ctx, [spec('a', { inflightRate: 1 })], 'off', [LOW]);
    runDma(ctx, 1e6, 'kernel', 'before the panic');
    expect(ctx.machine.memory.overlayPages).toBe(0);
    dmaInFlightAtPanic(ctx);
    runDma(ctx, 0, 'kernel', 'for no time');
    expect(ctx.machine.memory.overlayPages).toBe(0);
  });

  it("with 'kernel' translation writes only the device's own buffer pages, in ring order", () => {
    const ctx = makeContext([LOW, { start: FOUR_GIB - GiB, end: FOUR_GIB }]);
    const state = SimulatedDevices.attach(ctx, [spec('nic0', { bufferPages: 64, dmaPagesPerSecond: 1000 })], 'translated', [LOW]);
    setKernel(ctx, { systemRam: ctx.machine.memory.ram as PhysRange[], crashkernel: [{ start: 512 * MiB, end: 768 * MiB }] });
    dmaInFlightAtPanic(ctx);
    const d = state.devices[0];
    const mem = ctx.machine.memory;
    const before = d.bufferPages.map((p) => pageBytes(ctx, p));
    // 10 ms at 1000 pages/s: 10 page writes.
    runDma(ctx, 10_000, 'kernel', 'in a test');
    const written = mem.writtenFrames({ start: 0, end: FOUR_GIB }).map((pfn) => pfn * PAGE_SIZE);
    expect(written).toHaveLength(10);
    for (const a of written) expect(d.bufferPages).toContain(a);
    expect(state.damage.bufferPages).toBe(10);
    expect(state.damage.strayDevices).toEqual([]);
    expect(state.damage.oldMemoryPages).toEqual([]);
    expect(state.damage.captureMemoryPages).toEqual([]);
    expect(state.damage.holeWrites).toEqual([]);
    // The written pages changed; the others kept their content.
    d.bufferPages.forEach((p, i) => {
      const same = Buffer.from(pageBytes(ctx, p)).equals(Buffer.from(before[i]));
      expect(same).toBe(!written.includes(p));
    });
    // The ring moves on: the next 10 writes go to 10 other buffer pages.
    ctx.clock.advance(10_000);
    runDma(ctx, 10_000, 'kernel', 'in a test');
    expect(mem.writtenFrames({ start: 0, end: FOUR_GIB })).toHaveLength(20);
    expect(state.damage.bufferPages).toBe(20);
    expect(ctx.metrics.dmaBufferPagesRewritten).toBe(20);
    expect(fatalDmaDamage(ctx)).toBeUndefined();
  });

  it.each(['off', 'passthrough'] as const)("under iommu %s even 'none' translation lands in the buffers", (iommu) => {
    const ctx = makeContext([LOW, { start: FOUR_GIB - GiB, end: FOUR_GIB }]);
    const state = SimulatedDevices.attach(ctx, [spec('nic0', { bufferPages: 32, dmaPagesPerSecond: 1e6 })], iommu, [LOW]);
    setKernel(ctx, { systemRam: ctx.machine.memory.ram as PhysRange[], crashkernel: [{ start: 512 * MiB, end: 768 * MiB }] });
    dmaInFlightAtPanic(ctx);
    runDma(ctx, 1e6, 'none', 'with translation off');
    const written = ctx.machine.memory.writtenFrames({ start: 0, end: FOUR_GIB }).map((pfn) => pfn * PAGE_SIZE);
    expect(sorted(written)).toEqual(sorted(state.devices[0].bufferPages));
    expect(state.damage.bufferPages).toBe(32);
    expect(state.damage.strayDevices).toEqual([]);
    expect(fatalDmaDamage(ctx)).toBeUndefined();
  });

  describe("with 'none' translation under a translated IOMMU", () => {
    // RAM below 3.5 GiB and above 4 GiB; the IOVA span is [3 GiB, 4 GiB): a quarter in the reservation,
    // a sixteenth in memory the panic path writes (not dumped), three sixteenths in dumped old memory, half in the hole.
    const RAM: PhysRange[] = [
      { start: 0x100000, end: 3.5 * GiB },
      { start: FOUR_GIB, end: FOUR_GIB + GiB },
    ];
    const CRASHKERNEL: PhysRange[] = [{ start: 3 * GiB, end: 3.25 * GiB }];
    const PANIC_WRITES: PhysRange[] = [{ start: 3.25 * GiB, end: 3.25 * GiB + 64 * MiB }];
    const DUMPED_IN_SPAN: PhysRange = { start: 3.25 * GiB + 64 * MiB, end: 3.5 * GiB };

    function setUp(seed: number) {
      const ctx = makeContext(RAM, seed);
      const state = SimulatedDevices.attach(
        ctx,
        [
          spec('nic0', { bufferPages: 256, dmaPagesPerSecond: 10_000, iovaSpanBytes: GiB }),
          spec('idle', { bufferPages: 16, inflightRate: 0, iovaSpanBytes: GiB }),
        ],
        'translated',
        [{ start: 0x100000, end: GiB }],
      );
      setKernel(ctx, { systemRam: RAM, crashkernel: CRASHKERNEL, panicWrites: PANIC_WRITES });
      const unrelated = { paddr: 0x200000, sha256: 'a'.repeat(64) };
      ctx.state.truth = { ...emptyTruth(), pages: [unrelated] };
      dmaInFlightAtPanic(ctx);
      return { ctx, state, unrelated };
    }

    it('writes at the IOVAs and sorts every write into hole, capture memory or old memory', () => {
      const { ctx, state } = setUp(3);
      const nic = state.devices[0];
      const iovas = nic.dmaAddresses;
      const before = new Map(iovas.filter((a) => inRanges(RAM, a)).map((a) => [a, pageBytes(ctx, a)]));
      // One second at 10000 pages/s: every one of the 256 ring slots is written once.
      runDma(ctx, 1e6, 'none', 'with translation off');
      const dmg = state.damage;
      const holes = iovas.filter((a) => !inRanges(RAM, a));
      const capture = iovas.filter((a) => inRanges(RAM, a) && inRanges(CRASHKERNEL, a));
      const old = iovas.filter((a) => inRanges(RAM, a) && !inRanges(CRASHKERNEL, a));
      expect(holes.length).toBeGreaterThan(0);
      expect(capture.length).toBeGreaterThan(0);
      expect(old.some((a) => inRanges(PANIC_WRITES, a))).toBe(true);
      expect(old.some((a) => inRanges([DUMPED_IN_SPAN], a))).toBe(true);
      expect(sorted(dmg.holeWrites)).toEqual(sorted(holes));
      expect(sorted(dmg.captureMemoryPages)).toEqual(sorted(capture));
      expect(sorted(dmg.oldMemoryPages)).toEqual(sorted(old));
      expect(dmg.bufferPages).toBe(0);
      expect(dmg.strayDevices).toEqual(['nic0']);
      // Nothing landed in the buffers; every RAM page hit changed.
      for (const p of nic.bufferPages) expect(ctx.machine.memory.isWritten(p / PAGE_SIZE)).toBe(false);
      for (const [a, b] of before) expect(Buffer.from(pageBytes(ctx, a)).equals(Buffer.from(b))).toBe(false);
      expect(ctx.metrics.dmaStrayHoleWrites).toBe(holes.length);
      expect(ctx.metrics.dmaStrayCapturePages).toBe(capture.length);
      expect(ctx.metrics.dmaStrayOldMemoryPages).toBe(old.length);
      expect(ctx.metrics.pagesLost).toBe(old.length);
    });

    it('adds the dumped old-memory pages it overwrites to the truth, with their content before the write', () => {
      const { ctx, state, unrelated } = setUp(3);
      const iovas = state.devices[0].dmaAddresses;
      const dumpedHits = [...new Set(iovas.filter((a) => inRanges([DUMPED_IN_SPAN], a)))];
      const expected = new Map(dumpedHits.map((a) => [a, pageBytes(ctx, a)]));
      runDma(ctx, 1e6, 'none', 'with translation off');
      const truth = ctx.state.truth!;
      expect(truth.pages).toContainEqual(unrelated);
      const truthAddrs = [...truth.pages.map((p) => p.paddr), ...truth.zeroPages];
      expect(sorted(truthAddrs)).toEqual(sorted([unrelated.paddr, ...dumpedHits]));
      for (const [a, bytes] of expected) {
        if (bytes.every((x) => x === 0)) expect(truth.zeroPages).toContain(a);
        else expect(truth.pages).toContainEqual({ paddr: a, sha256: sha256(bytes) });
      }
      // Pages the panic path writes and the reservation are not dumped: never in the truth.
      for (const a of truthAddrs) {
        expect(inRanges(PANIC_WRITES, a)).toBe(false);
        expect(inRanges(CRASHKERNEL, a)).toBe(false);
      }
      expect(truth.pages.map((p) => p.paddr)).toEqual(sorted(truth.pages.map((p) => p.paddr)));
    });

    it('reports the capture-memory overwrite as fatal, naming the device and the first page', () => {
      const { ctx, state } = setUp(3);
      runDma(ctx, 1e6, 'none', 'with translation off');
      const first = state.damage.captureMemoryPages[0];
      const msg = fatalDmaDamage(ctx)!;
      expect(msg).toContain('nic0');
      expect(msg).toContain(hex(first));
      expect(msg).toContain(String(state.damage.captureMemoryPages.length));
      expect(msg).not.toContain('idle');
    });
  });
});

describe('resetDevices', () => {
  const RAM: PhysRange[] = [{ start: 0x100000, end: GiB }];

  function running(specs: DeviceSpec[]): RunContext {
    const ctx = makeContext(RAM);
    SimulatedDevices.attach(ctx, specs, 'off', RAM);
    dmaInFlightAtPanic(ctx);
    return ctx;
  }
  const byName = (ctx: RunContext) =>
    Object.fromEntries(simulatedDevicesOf(ctx)!.devices.map((d) => [d.spec.name, { running: d.running, stoppedBy: d.stoppedBy }]));

  it('a warm reset stops only the devices that follow it', () => {
    const ctx = running([spec('nic0'), spec('bmc-nic', { warmReset: false }), spec('off', { inflightRate: 0 })]);
    resetDevices(ctx, 'warm-reset');
    const s = byName(ctx);
    expect(s.nic0).toEqual({ running: false, stoppedBy: 'platform warm-reset' });
    expect(s['bmc-nic']).toEqual({ running: true, stoppedBy: undefined });
    expect(s.off).toEqual({ running: false, stoppedBy: undefined });
    const warn = ctx.log.timeline.filter((e) => e.kind === 'warn').map((e) => e.message);
    expect(warn).toHaveLength(1);
    expect(warn[0]).toContain('bmc-nic');
  });

  it('a cold reset stops every device', () => {
    const ctx = running([spec('nic0'), spec('bmc-nic', { warmReset: false }), spec('gpu0', { kind: 'gpu', captureDriver: false })]);
    resetDevices(ctx, 'cold-reset');
    expect(simulatedDevicesOf(ctx)!.devices.every((d) => !d.running && d.stoppedBy === 'platform cold-reset')).toBe(true);
    expect(ctx.log.timeline.filter((e) => e.kind === 'warn')).toEqual([]);
  });

  it('at probe, drivers reset their devices; devices without a driver or whose reset fails keep running', () => {
    const ctx = running([
      spec('nic0', { captureDriver: true, probeResetFailRate: 0 }),
      spec('gpu0', { kind: 'gpu', captureDriver: false }),
      spec('hba0', { kind: 'hba', captureDriver: true, probeResetFailRate: 1 }),
    ]);
    resetDevices(ctx, 'probe');
    const s = byName(ctx);
    expect(s.nic0).toEqual({ running: false, stoppedBy: 'driver reset at probe' });
    expect(s.gpu0.running).toBe(true);
    expect(s.hba0.running).toBe(true);
    const warn = ctx.log.timeline.filter((e) => e.kind === 'warn').map((e) => e.message);
    expect(warn.some((m) => m.includes('gpu0'))).toBe(true);
    expect(warn.some((m) => m.includes('hba0'))).toBe(true);
    expect(warn.some((m) => m.includes('nic0'))).toBe(false);
  });

  it('does nothing without devices', () => {
    const ctx = makeContext(RAM);
    expect(() => resetDevices(ctx, 'probe')).not.toThrow();
    expect(ctx.log.timeline).toEqual([]);
  });

  it('a stopped device does not write any more', () => {
    const ctx = running([spec('nic0', { dmaPagesPerSecond: 1e6 })]);
    resetDevices(ctx, 'cold-reset');
    runDma(ctx, 1e6, 'kernel', 'after the reset');
    expect(ctx.machine.memory.overlayPages).toBe(0);
  });
});

describe('fatalDmaDamage', () => {
  const RAM: PhysRange[] = [{ start: 0x100000, end: GiB }];

  it('is undefined without devices or with only buffer rewrites', () => {
    const ctx = makeContext(RAM);
    expect(fatalDmaDamage(ctx)).toBeUndefined();
    SimulatedDevices.attach(ctx, [spec('nic0')], 'off', RAM);
    simulatedDevicesOf(ctx)!.damage.bufferPages = 10;
    simulatedDevicesOf(ctx)!.damage.oldMemoryPages.push(0x300000);
    expect(fatalDmaDamage(ctx)).toBeUndefined();
  });

  it('names a write where there is no RAM as an unsupported request', () => {
    const ctx = makeContext(RAM);
    SimulatedDevices.attach(ctx, [spec('nic0')], 'off', RAM);
    const dmg = simulatedDevicesOf(ctx)!.damage;
    dmg.holeWrites.push(0xf0000000, 0xf0001000);
    dmg.strayDevices.push('nic0');
    const msg = fatalDmaDamage(ctx)!;
    expect(msg).toContain('nic0');
    expect(msg).toContain(hex(0xf0000000));
    expect(msg).toMatch(/no RAM/);
    expect(msg).toMatch(/SERR/);
  });

  it('prefers the capture-memory overwrite to a hole write', () => {
    const ctx = makeContext(RAM);
    SimulatedDevices.attach(ctx, [spec('nic0')], 'off', RAM);
    const dmg = simulatedDevicesOf(ctx)!.damage;
    dmg.holeWrites.push(0xf0000000);
    dmg.captureMemoryPages.push(0x20000000, 0x20001000, 0x20002000);
    dmg.strayDevices.push('nic0', 'nvme0');
    const msg = fatalDmaDamage(ctx)!;
    expect(msg).toContain('nic0, nvme0');
    expect(msg).toContain('3 pages');
    expect(msg).toContain(hex(0x20000000));
    expect(msg).toMatch(/capture kernel/);
    expect(msg).not.toContain(hex(0xf0000000));
  });
});
