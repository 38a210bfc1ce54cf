import {
  hashString,
  hex,
  mergeRanges,
  PAGE_SIZE,
  preservePageInTruth,
  Rng,
  SimulationError,
  stableDumpedRanges,
  subtractRanges,
  totalSize,
  writeFileAtomic,
  type DeviceResetBy,
  type DeviceSpec,
  type DmaTranslation,
  type IommuMode,
  type MachineDevice,
  type MachineDevices,
  type PhysRange,
  type RunContext,
} from '@efikdump/core';

/** One device as the simulated machine runs it. */
export interface DeviceRuntime extends MachineDevice {
  spec: DeviceSpec;
  /** Physical pages of its DMA buffers, in ring order. */
  bufferPages: number[];
  /** The DMA address the device uses for each buffer page: an IOVA under a translated IOMMU, else the physical address. */
  dmaAddresses: number[];
  /** Next ring slot the device writes. */
  ringHead: number;
  /** DMA in flight at the panic and not yet stopped. */
  running: boolean;
  /** Why it stopped (platform reset, driver reset at probe). */
  stoppedBy?: string;
}

/** Where DMA landed after the panic: the consequences a run reports. */
export interface DmaDamage {
  /** Buffer pages the devices rewrote (their own buffers: lost, not corrupt). */
  bufferPages: number;
  /** Pages of the dumped old memory overwritten by untranslated DMA (the dump is corrupt there). */
  oldMemoryPages: number[];
  /** Pages of the capture kernel's memory (the reservation) overwritten. */
  captureMemoryPages: number[];
  /** Writes to addresses with no RAM (unsupported requests: PCI SERR). */
  holeWrites: number[];
  /** Devices whose DMA landed outside their buffers. */
  strayDevices: string[];
}

const DMA_LIMIT_32 = 2 ** 32;

/**
 * The machine's DMA-capable devices and the IOMMU as the simulation runs them: the 1st kernel
 * attaches them at boot (`SimulatedDevices.attach`, which sets `ctx.state.devices`), the panic
 * leaves some with DMA in flight, and the firmware, the exits and the capture kernel run their DMA
 * and reset them through the `MachineDevices` contract of @efikdump/core.
 */
export class SimulatedDevices implements MachineDevices {
  readonly damage: DmaDamage = { bufferPages: 0, oldMemoryPages: [], captureMemoryPages: [], holeWrites: [], strayDevices: [] };

  constructor(
    readonly iommu: IommuMode,
    readonly devices: DeviceRuntime[],
  ) {}

  /**
   * The 1st kernel's drivers set their devices up: each gets `bufferPages` pages of DMA buffers in
   * 16-page chunks of free RAM (seeded; never in `avoid`), and, under a translated IOMMU, IOVAs the
   * allocator hands out top-down below the 4 GiB DMA limit (Linux dma-iommu tries the 32-bit space
   * first for PCI devices) spread over the device's `iovaSpanBytes`. Sets `ctx.state.devices`.
   */
  static attach(ctx: RunContext, specs: readonly DeviceSpec[], iommu: IommuMode, freeRam: readonly PhysRange[]): SimulatedDevices {
    const rng = new Rng(ctx.seed, hashString('devices'));
    const devices: DeviceRuntime[] = [];
    let free = mergeRanges(
      freeRam
        .map((r) => ({ start: Math.ceil(r.start / PAGE_SIZE) * PAGE_SIZE, end: Math.floor(r.end / PAGE_SIZE) * PAGE_SIZE }))
        .filter((r) => r.end > r.start),
    );
    for (const spec of specs) {
      const pages: number[] = [];
      while (pages.length < spec.bufferPages) {
        const chunk = Math.min(16, spec.bufferPages - pages.length);
        const total = totalSize(free) / PAGE_SIZE;
        if (total < chunk) throw new SimulationError(`no free RAM for ${spec.name}'s DMA buffers`);
        let off = rng.below(total - chunk + 1) * PAGE_SIZE;
        let start = -1;
        for (const r of free) {
          const size = r.end - r.start;
          if (off + chunk * PAGE_SIZE <= size) {
            start = r.start + off;
            break;
          }
          off = Math.max(0, off - size);
        }
        if (start < 0) start = free.find((r) => r.end - r.start >= chunk * PAGE_SIZE)?.start ?? -1;
        if (start < 0) throw new SimulationError(`no contiguous free RAM for ${spec.name}'s DMA buffers`);
        for (let i = 0; i < chunk; i++) pages.push(start + i * PAGE_SIZE);
        free = subtractRanges(free, [{ start, end: start + chunk * PAGE_SIZE }]);
      }
      const span = Math.max(PAGE_SIZE, Math.floor(spec.iovaSpanBytes / PAGE_SIZE) * PAGE_SIZE);
      // Distinct IOVAs: one mapping per buffer page (the parser keeps the span at least that large).
      const slots = span / PAGE_SIZE;
      if (iommu === 'translated' && slots < pages.length)
        throw new SimulationError(`${spec.name}: an IOVA span of ${span} bytes cannot map ${pages.length} buffer pages`);
      const taken = new Set<number>();
      const dmaAddresses =
        iommu === 'translated'
          ? pages.map(() => {
              let slot = rng.below(slots);
              while (taken.has(slot)) slot = (slot + 1) % slots;
              taken.add(slot);
              return DMA_LIMIT_32 - PAGE_SIZE - slot * PAGE_SIZE;
            })
          : [...pages];
      devices.push({ spec, bufferPages: pages, dmaAddresses, ringHead: rng.below(Math.max(1, pages.length)), running: false });
    }
    const state = new SimulatedDevices(iommu, devices);
    ctx.state.devices = state;
    return state;
  }

  /** At the panic: which devices have DMA in flight (seeded per device). Nothing stops them: the panic path does not shut devices down. */
  inFlightAtPanic(ctx: RunContext): DeviceRuntime[] {
    const rng = new Rng(ctx.seed, hashString('dma-inflight'));
    for (const d of this.devices) d.running = rng.next() < d.spec.inflightRate;
    const running = this.devices.filter((d) => d.running);
    ctx.metrics.dmaDevicesInFlight = running.length;
    if (running.length)
      ctx.log.emit(
        'panic',
        'info',
        `DMA in flight at the panic: ${running.map((d) => d.spec.name).join(', ')} (devices are not shut down on the panic path)`,
      );
    return running;
  }

  /**
   * DMA of the running devices for `durationUs`. `translation` says what turns a device's DMA
   * address into a physical one at this time: `kernel` (the 1st kernel's IOMMU tables, or no
   * IOMMU: the writes land in the device's own buffers) or `none` (IOMMU translation off: an IOVA
   * is used as a physical address). Stray pages that land in RAM overwrite it; the pages of the
   * dumped old memory are added to the truth manifest first, with their content at the panic, so
   * verification sees the corruption; writes where there is no RAM are unsupported requests.
   */
  runDma(ctx: RunContext, durationUs: number, translation: DmaTranslation, during: string): void {
    if (durationUs <= 0) return;
    const kernel = ctx.state.kernel;
    const reservation = kernel?.crashkernel ?? [];
    const mem = ctx.machine.memory;
    const page = new Uint8Array(PAGE_SIZE);
    const dumped = kernel ? stableDumpedRanges(ctx) : [];
    let truthChanged = false;
    for (const d of this.devices) {
      if (!d.running || d.bufferPages.length === 0) continue;
      const writes = Math.min(d.bufferPages.length, Math.ceil((d.spec.dmaPagesPerSecond * durationUs) / 1e6));
      const rng = new Rng(ctx.seed, hashString(`dma:${d.spec.name}`), Math.round(ctx.clock.nowUs));
      let stray = false;
      for (let i = 0; i < writes; i++) {
        const slot = (d.ringHead + i) % d.bufferPages.length;
        const target = translation === 'kernel' || this.iommu !== 'translated' ? d.bufferPages[slot] : d.dmaAddresses[slot];
        rng.fill(page);
        if (target === d.bufferPages[slot]) {
          mem.write(target, page);
          this.damage.bufferPages++;
          continue;
        }
        stray = true;
        if (!mem.isRam(target, PAGE_SIZE)) {
          this.damage.holeWrites.push(target);
          continue;
        }
        if (reservation.some((r) => target >= r.start && target < r.end)) this.damage.captureMemoryPages.push(target);
        else {
          if (dumped.some((r) => target >= r.start && target < r.end)) truthChanged = preservePageInTruth(ctx, target) || truthChanged;
          this.damage.oldMemoryPages.push(target);
        }
        mem.write(target, page);
      }
      d.ringHead = (d.ringHead + writes) % d.bufferPages.length;
      if (stray && !this.damage.strayDevices.includes(d.spec.name)) this.damage.strayDevices.push(d.spec.name);
      if (writes)
        ctx.log.emit(
          'dma',
          'info',
          `${d.spec.name}: ${writes} DMA page writes ${during}${translation === 'none' && this.iommu === 'translated' ? ' with IOMMU translation off: IOVAs used as physical addresses' : ''}`,
        );
    }
    this.publishDamage(ctx);
    if (truthChanged && ctx.options.truth && ctx.state.truth) writeFileAtomic(ctx.options.truth, JSON.stringify(ctx.state.truth) + '\n');
  }

  /** Stops devices: a platform reset (warm resets only those that follow it, cold all), or the capture kernel's drivers at probe. */
  reset(ctx: RunContext, by: DeviceResetBy): void {
    const rng = new Rng(ctx.seed, hashString(`device-reset:${by}`), ctx.state.bootCount);
    for (const d of this.devices) {
      if (!d.running) continue;
      if (by === 'cold-reset' || (by === 'warm-reset' && d.spec.warmReset)) {
        d.running = false;
        d.stoppedBy = `platform ${by}`;
      } else if (by === 'probe') {
        if (!d.spec.captureDriver) {
          ctx.log.emit('capture-boot', 'warn', `${d.spec.name}: no driver in the capture kernel; its DMA goes on`);
        } else if (rng.next() < d.spec.probeResetFailRate) {
          ctx.log.emit('capture-boot', 'warn', `${d.spec.name}: reset at probe failed; its DMA goes on`);
        } else {
          d.running = false;
          d.stoppedBy = 'driver reset at probe';
          ctx.log.emit('capture-boot', 'info', `${d.spec.name}: reset by its driver at probe`);
        }
      }
    }
    if (by !== 'probe') {
      const left = this.devices.filter((d) => d.running).map((d) => d.spec.name);
      if (left.length) ctx.log.emit('firmware-post', 'warn', `not reset by the ${by}: ${left.join(', ')} (DMA goes on)`);
    }
  }

  /** The consequence of stray DMA for the capture kernel, if it is fatal: its memory overwritten, or a PCI SERR. */
  fatalDamage(): string | undefined {
    const dmg = this.damage;
    if (dmg.captureMemoryPages.length) {
      return `stray DMA from ${dmg.strayDevices.join(', ')} overwrote ${dmg.captureMemoryPages.length} pages of the capture kernel's memory, first at ${hex(dmg.captureMemoryPages[0])}`;
    }
    if (dmg.holeWrites.length) {
      return `stray DMA from ${dmg.strayDevices.join(', ')} to ${hex(dmg.holeWrites[0])}, where there is no RAM: unsupported request, PCI SERR, NMI`;
    }
    return undefined;
  }

  /** Metrics of the DMA damage so far: pages lost (buffers rewritten) and stray writes, with where the first landed. */
  private publishDamage(ctx: RunContext): void {
    const dmg = this.damage;
    ctx.metrics.dmaBufferPagesRewritten = dmg.bufferPages;
    ctx.metrics.dmaStrayOldMemoryPages = dmg.oldMemoryPages.length;
    ctx.metrics.dmaStrayCapturePages = dmg.captureMemoryPages.length;
    ctx.metrics.dmaStrayHoleWrites = dmg.holeWrites.length;
    ctx.metrics.pagesLost = dmg.bufferPages + dmg.oldMemoryPages.length;
    const where = [
      dmg.bufferPages ? `${dmg.bufferPages} DMA buffer pages` : '',
      dmg.oldMemoryPages.length ? `${dmg.oldMemoryPages.length} old-memory pages from ${hex(Math.min(...dmg.oldMemoryPages))}` : '',
    ]
      .filter(Boolean)
      .join('; ');
    if (where) ctx.metrics.pagesLostWhere = where;
  }
}

/** The run's simulated devices, when the 1st kernel attached them (another model's devices, or none: undefined). */
export function simulatedDevicesOf(ctx: RunContext): SimulatedDevices | undefined {
  const devices = ctx.state.devices;
  return devices instanceof SimulatedDevices ? devices : undefined;
}

/** At the panic: which devices have DMA in flight (none without simulated devices). */
export function dmaInFlightAtPanic(ctx: RunContext): DeviceRuntime[] {
  return simulatedDevicesOf(ctx)?.inFlightAtPanic(ctx) ?? [];
}
