import type { RunContext } from '../context';
import { SimulationError } from '../errors';
import { hashString, Rng } from '../rng';
import { mergeRanges, subtractRanges, totalSize, type PhysRange } from '../memory/ranges';
import { hex, PAGE_SIZE } from '../units';
import { stableDumpedRanges } from '../lab/truth-stages';
import { writeFileAtomic } from '../io';

/** Kinds of DMA-capable devices a scenario may put in the machine. */
export const DEVICE_KINDS = ['nic', 'nvme', 'gpu', 'hba'] as const;
export type DeviceKind = (typeof DEVICE_KINDS)[number];

/** How the 1st kernel runs the IOMMU (domain reference §8). */
export const IOMMU_MODES = ['off', 'passthrough', 'translated'] as const;
export type IommuMode = (typeof IOMMU_MODES)[number];

/**
 * What a capture kernel entered without a platform reset does with the IOMMU it finds enabled:
 * turn translation off (DMA addresses are then used as physical addresses) or copy the old root
 * and context tables and keep the old mappings until each driver re-initialises its device (the
 * Intel VT-d fix merged for Linux 4.2, domain reference §8).
 */
export const CAPTURE_IOMMU_CHOICES = ['disable-translation', 'copy-tables'] as const;
export type CaptureIommuChoice = (typeof CAPTURE_IOMMU_CHOICES)[number];

/** One DMA-capable device of a scenario's machine. */
export interface DeviceSpec {
  name: string;
  kind: DeviceKind;
  /** Probability that the device has DMA in flight when the kernel panics. */
  inflightRate: number;
  /** Pages of DMA buffers (descriptor rings, receive buffers, queues) its driver gave it. */
  bufferPages: number;
  /** Pages it writes per second while it runs. */
  dmaPagesPerSecond: number;
  /** IOVA space its mappings are spread over, allocated top-down below the 4 GiB DMA limit (translated IOMMU only). */
  iovaSpanBytes: number;
  /** Whether a platform warm reset resets it (always-on or BMC-owned devices are not; a cold reset resets all). */
  warmReset: boolean;
  /** Whether the capture kernel has a driver for it (in the kdump initramfs), which resets it at probe. */
  captureDriver: boolean;
  /** Probability that that reset at probe fails and the device keeps running. */
  probeResetFailRate: number;
}

/** One device as the simulated machine runs it. */
export interface DeviceRuntime {
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

export interface DeviceState {
  iommu: IommuMode;
  devices: DeviceRuntime[];
  damage: DmaDamage;
}

const DMA_LIMIT_32 = 2 ** 32;

/**
 * The 1st kernel's drivers set their devices up: each gets `bufferPages` pages of DMA buffers in
 * 16-page chunks of free RAM (seeded; never in `avoid`), and, under a translated IOMMU, IOVAs the
 * allocator hands out top-down below the 4 GiB DMA limit (Linux dma-iommu tries the 32-bit space
 * first for PCI devices) spread over the device's `iovaSpanBytes`.
 */
export function attachDevices(ctx: RunContext, specs: readonly DeviceSpec[], iommu: IommuMode, freeRam: readonly PhysRange[]): DeviceState {
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
  const state: DeviceState = {
    iommu,
    devices,
    damage: { bufferPages: 0, oldMemoryPages: [], captureMemoryPages: [], holeWrites: [], strayDevices: [] },
  };
  ctx.state.devices = state;
  return state;
}

/** At the panic: which devices have DMA in flight (seeded per device). Nothing stops them: the panic path does not shut devices down. */
export function dmaInFlightAtPanic(ctx: RunContext): DeviceRuntime[] {
  const state = ctx.state.devices;
  if (!state) return [];
  const rng = new Rng(ctx.seed, hashString('dma-inflight'));
  for (const d of state.devices) d.running = rng.next() < d.spec.inflightRate;
  const running = state.devices.filter((d) => d.running);
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
export function runDma(ctx: RunContext, durationUs: number, translation: 'kernel' | 'none', during: string): void {
  const state = ctx.state.devices;
  if (!state || durationUs <= 0) return;
  const kernel = ctx.state.kernel;
  const reservation = kernel?.crashkernel ?? [];
  const mem = ctx.machine.memory;
  const page = new Uint8Array(PAGE_SIZE);
  const dumped = kernel ? stableDumpedRanges(ctx) : [];
  let truthChanged = false;
  for (const d of state.devices) {
    if (!d.running || d.bufferPages.length === 0) continue;
    const writes = Math.min(d.bufferPages.length, Math.ceil((d.spec.dmaPagesPerSecond * durationUs) / 1e6));
    const rng = new Rng(ctx.seed, hashString(`dma:${d.spec.name}`), Math.round(ctx.clock.nowUs));
    let stray = false;
    for (let i = 0; i < writes; i++) {
      const slot = (d.ringHead + i) % d.bufferPages.length;
      const target = translation === 'kernel' || state.iommu !== 'translated' ? d.bufferPages[slot] : d.dmaAddresses[slot];
      rng.fill(page);
      if (target === d.bufferPages[slot]) {
        mem.write(target, page);
        state.damage.bufferPages++;
        continue;
      }
      stray = true;
      if (!mem.isRam(target, PAGE_SIZE)) {
        state.damage.holeWrites.push(target);
        continue;
      }
      if (reservation.some((r) => target >= r.start && target < r.end)) state.damage.captureMemoryPages.push(target);
      else {
        if (dumped.some((r) => target >= r.start && target < r.end)) truthChanged = preserveInTruth(ctx, target) || truthChanged;
        state.damage.oldMemoryPages.push(target);
      }
      mem.write(target, page);
    }
    d.ringHead = (d.ringHead + writes) % d.bufferPages.length;
    if (stray && !state.damage.strayDevices.includes(d.spec.name)) state.damage.strayDevices.push(d.spec.name);
    if (writes)
      ctx.log.emit(
        'dma',
        'info',
        `${d.spec.name}: ${writes} DMA page writes ${during}${translation === 'none' && state.iommu === 'translated' ? ' with IOMMU translation off: IOVAs used as physical addresses' : ''}`,
      );
  }
  publishDamage(ctx);
  if (truthChanged && ctx.options.truth && ctx.state.truth) writeFileAtomic(ctx.options.truth, JSON.stringify(ctx.state.truth) + '\n');
}

/** Stops devices: a platform reset (warm resets only those that follow it, cold all), or the capture kernel's drivers at probe. */
export function resetDevices(ctx: RunContext, by: 'warm-reset' | 'cold-reset' | 'probe'): void {
  const state = ctx.state.devices;
  if (!state) return;
  const rng = new Rng(ctx.seed, hashString(`device-reset:${by}`), ctx.state.bootCount);
  for (const d of state.devices) {
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
    const left = state.devices.filter((d) => d.running).map((d) => d.spec.name);
    if (left.length) ctx.log.emit('firmware-post', 'warn', `not reset by the ${by}: ${left.join(', ')} (DMA goes on)`);
  }
}

/** Metrics of the DMA damage so far: pages lost (buffers rewritten) and stray writes, with where the first landed. */
function publishDamage(ctx: RunContext): void {
  const dmg = ctx.state.devices!.damage;
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

/** The consequence of stray DMA for the capture kernel, if it is fatal: its memory overwritten, or a PCI SERR. */
export function fatalDmaDamage(ctx: RunContext): string | undefined {
  const dmg = ctx.state.devices?.damage;
  if (!dmg) return undefined;
  if (dmg.captureMemoryPages.length) {
    return `stray DMA from ${dmg.strayDevices.join(', ')} overwrote ${dmg.captureMemoryPages.length} pages of the capture kernel's memory, first at ${hex(dmg.captureMemoryPages[0])}`;
  }
  if (dmg.holeWrites.length) {
    return `stray DMA from ${dmg.strayDevices.join(', ')} to ${hex(dmg.holeWrites[0])}, where there is no RAM: unsupported request, PCI SERR, NMI`;
  }
  return undefined;
}

/** Adds a page of the dumped old memory to the truth (with its content now, before a stray write) if the truth does not already hold it. */
function preserveInTruth(ctx: RunContext, paddr: number): boolean {
  const truth = ctx.state.truth;
  if (!truth) return false;
  if (truth.pages.some((p) => p.paddr === paddr) || truth.zeroPages.includes(paddr)) return false;
  const pfn = paddr / PAGE_SIZE;
  if (ctx.machine.memory.isZeroPage(pfn)) {
    truth.zeroPages.push(paddr);
    truth.zeroPages.sort((a, b) => a - b);
  } else {
    truth.pages.push({ paddr, sha256: ctx.machine.memory.pageSha256(pfn) });
    truth.pages.sort((a, b) => a.paddr - b.paddr);
  }
  return true;
}
