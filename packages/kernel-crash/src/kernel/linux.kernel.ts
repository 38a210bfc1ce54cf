import { createHash } from 'node:crypto';
import { injectable } from 'tsyringe';
import {
  EPOCH_UNIX,
  ms,
  seconds,
  SimulationError,
  stage,
  subtractRanges,
  systemRamFromMemoryMap,
  hashString,
  intersectRanges,
  kdumpOptionsOf,
  mergeRanges,
  totalSize,
  type PhysRange,
  hex,
  formatSize,
  PAGE_SIZE,
  pageAlignUp,
  type FirstKernel,
  type KernelState,
  type RunContext,
  type StageOperator,
} from '@efikdump/core';
import { dmaInFlightAtPanic, SimulatedDevices } from '../devices/simulated-devices';
// crashkernel= placement and the handoff slot are shared Linux boot facts, in core.
import { bootServicesFootprint, handoffSlotOf, runCrashkernel, runImagePlacement } from '@efikdump/core';
import { buildElfCoreHeader, elfCoreHeaderInputOf } from '../elfcorehdr/build-elfcorehdr';
import { CRASH_NOTE_BYTES, encodeCrashNoteBuffer, simulatedRegisters } from './crash-notes';
import { CRASH_NOTES_OFFSET_IN_PAGE, kernelLayout, kernelVirt, KERNEL_IMAGE_BYTES, layoutOfKernelText, OSRELEASE } from './layout';
import { freezeMemMapStates, memMapRegion, placeMemMap } from './mem-map';
import { writeKernelPageTables } from './page-tables';
import { segmentsDigest } from './segments-digest';
import { encodeVmcoreinfoBuffer, vmcoreinfoEntries, VMCOREINFO_NOTE_BYTES } from './vmcoreinfo';

export { EPOCH_UNIX };
/** The capture kernel's image and initrd, loaded into the reservation by the kdump service. */
export const CAPTURE_IMAGE_BYTES = 48 * 1024 * 1024;

/** A `struct new_utsname` (six 65-byte fields), as init_uts_ns holds it. */
export function encodeUtsname(release: string): Uint8Array {
  const fields = ['Linux', 'efikdump', release, '#1 SMP PREEMPT_DYNAMIC', 'x86_64', '(none)'];
  const out = new Uint8Array(6 * 65);
  fields.forEach((f, i) => out.set(Buffer.from(f.slice(0, 64), 'ascii'), i * 65));
  return out;
}

const LOW_1M = { start: 0, end: 0x100000 };
/** [modelled] The buddy allocator's early allocations land within this distance of the top of free memory (real runs: VMCOREINFO 20 and 31 MiB below the top of RAM at 1 GiB). */
export const EARLY_ALLOCATION_SPAN_BYTES = 32 * 1024 * 1024;

/** A seeded page-aligned slot for `bytes` in the highest EARLY_ALLOCATION_SPAN_BYTES of `free` below 4 GiB (or of all free memory). */
function buddyPageNearTop(ctx: RunContext, free: readonly PhysRange[], bytes: number): number {
  const need = pageAlignUp(bytes);
  const below4g = free.filter((r) => r.end <= 2 ** 32);
  const ranges = (below4g.length ? below4g : free).filter((r) => r.end - r.start >= need);
  if (!ranges.length) throw new SimulationError('no free memory for the VMCOREINFO note');
  const slots: number[] = [];
  let span = 0;
  for (let i = ranges.length - 1; i >= 0 && span < EARLY_ALLOCATION_SPAN_BYTES; i--) {
    for (let p = ranges[i].end - need; p >= ranges[i].start && span < EARLY_ALLOCATION_SPAN_BYTES; p -= PAGE_SIZE, span += PAGE_SIZE)
      slots.push(p);
  }
  return slots[ctx.rng.fork(hashString('vmcoreinfo-alloc')).below(slots.length)];
}

/** What the 1st kernel's allocator hands out to user memory and drivers: System RAM less its own structures, the reservation and any quarantine. */
export function kernelFreeMemory(kernel: KernelState, ...more: PhysRange[]): PhysRange[] {
  const image = { start: kernel.kernelText.paddr, end: kernel.kernelText.paddr + kernel.kernelText.size };
  return subtractRanges(kernel.systemRam, [
    ...kernel.crashkernel,
    image,
    LOW_1M,
    ...more,
    ...(kernel.quarantine ?? []),
    { start: kernel.vmcoreinfo.paddr, end: pageAlignUp(kernel.vmcoreinfo.paddr + kernel.vmcoreinfo.size) },
  ]);
}

/**
 * The 1st kernel: boots with the design's command line, reserves `crashkernel=`, lays out what
 * the dump tools read (crash_notes, VMCOREINFO, init_uts_ns, page tables), has the kdump service
 * load the capture kernel and the elfcorehdr, runs the workload, and panics.
 */
@injectable()
export class LinuxKernel implements FirstKernel {
  boot(): StageOperator {
    return stage('kernel-boot', (ctx) => {
      const map = ctx.state.memoryMap;
      if (!map) throw new SimulationError('the kernel booted without a memory map');
      const cmdline = ctx.design.kernel.cmdline;
      const systemRam = systemRamFromMemoryMap(map);
      const { spec, placement, early } = runCrashkernel(ctx, systemRam);
      // Without crashkernel= nothing is reserved and no capture kernel is loaded (a design whose firmware writes the dump needs neither).
      if (spec && !placement) {
        ctx.outcome = { outcome: 'no-dump', reason: `crashkernel= reserves nothing for ${formatSize(ctx.machine.ramBytes)} of RAM` };
        return;
      }
      const crashkernel = placement?.ranges ?? [];
      const mem = ctx.machine.memory;
      // Where the stub put the image (kernel.imagePlacement): phys_base is its distance from 16 MiB.
      const placed = runImagePlacement(ctx);
      const layout = kernelLayout(placed.image.start);
      const image = layout.image;
      if (!mem.isRam(image.start, KERNEL_IMAGE_BYTES) || crashkernel.some((r) => r.start < image.end && r.end > image.start)) {
        throw new SimulationError(`the kernel image does not fit at ${hex(image.start)} outside the reservation`);
      }
      // The image: text, then data (slab-like) with the structures the dump tools read.
      mem.fill(layout.text, 'kernel-text', 1, 'kernel text');
      mem.fill(layout.data, 'slab', 1, 'kernel data');
      const maxPhys = Math.max(...mem.ram.map((r) => r.end));
      writeKernelPageTables(mem, maxPhys, layout);
      mem.write(layout.initUtsNs, encodeUtsname(OSRELEASE));
      if (placed.choice !== 'fixed-16m') {
        ctx.metrics.kernelImageBase = image.start;
        ctx.log.emit(
          'kernel-boot',
          'info',
          `kernel image at ${hex(image.start)}-${hex(image.end - 1)} (imagePlacement ${placed.choice}${placed.choice === 'kaslr' ? ', modelled' : ''}; phys_base ${hex(layout.physBase)})`,
        );
      }
      // FLATMEM mem_map at the top of RAM, computed on demand from each frame's state.
      // paging_init runs after reserve_crashkernel: mem_map is a memblock allocation, top-down around everything still reserved.
      const heldAtBoot = [...crashkernel, image, LOW_1M, ...(early ? [...early.firmware, ...(early.initrd ? [early.initrd] : [])] : [])];
      const options = kdumpOptionsOf(ctx.design);
      // Quarantine: the firmware's footprint (boot-services and loader memory, and what the profile predicts POST writes) is never freed to the allocator.
      const quarantine =
        options.quarantine === 'firmware-footprint'
          ? subtractRanges(
              intersectRanges(mergeRanges([...bootServicesFootprint(map), ...(ctx.state.firmware?.postPrediction ?? [])]), systemRam),
              [...crashkernel, image, LOW_1M],
            )
          : [];
      // The quarantine is memblock-reserved from setup_arch on, so memblock's own allocations (mem_map) stay out of it too.
      const memMap = placeMemMap(systemRam, [...heldAtBoot, ...quarantine], maxPhys);
      mem.compute(memMapRegion(mem, memMap, crashkernel));
      const pointer = new DataView(new ArrayBuffer(8));
      pointer.setBigUint64(0, memMap.vaddr, true);
      mem.write(layout.memMapPtr, new Uint8Array(pointer.buffer));
      ctx.metrics.memMapBytes = memMap.sizeBytes;
      const memMapRange = { start: memMap.paddr, end: memMap.paddr + memMap.sizeBytes };
      // VMCOREINFO (crash_save_vmcoreinfo_init, a subsys_initcall) comes from the buddy allocator after efi_free_boot_services: near the top of RAM.
      const vmcoreinfoPaddr = buddyPageNearTop(
        ctx,
        subtractRanges(systemRam, [
          ...heldAtBoot,
          memMapRange,
          ...quarantine,
          { start: layout.percpu, end: layout.percpu + ctx.machine.cpus * PAGE_SIZE },
        ]),
        VMCOREINFO_NOTE_BYTES,
      );
      mem.write(vmcoreinfoPaddr, encodeVmcoreinfoBuffer(vmcoreinfoEntries(undefined, layout)));
      const crashNotes = Array.from({ length: ctx.machine.cpus }, (_, cpu) => layout.percpu + cpu * PAGE_SIZE + CRASH_NOTES_OFFSET_IN_PAGE);
      const zeroNote = new Uint8Array(CRASH_NOTE_BYTES);
      for (const paddr of crashNotes) mem.write(paddr, zeroNote);

      const kernel: KernelState = {
        cmdline,
        osrelease: OSRELEASE,
        systemRam,
        crashkernel,
        kernelText: { paddr: image.start, vaddr: kernelVirt(image.start, layout.physBase), size: KERNEL_IMAGE_BYTES },
        crashNotes,
        crashNotesBytes: CRASH_NOTE_BYTES,
        vmcoreinfo: { paddr: vmcoreinfoPaddr, size: VMCOREINFO_NOTE_BYTES },
        panicWrites: [
          ...crashNotes.map((p) => ({ start: p, end: p + CRASH_NOTE_BYTES })),
          { start: vmcoreinfoPaddr, end: vmcoreinfoPaddr + VMCOREINFO_NOTE_BYTES },
        ],
        // No reservation, no in-memory handoff slot: 0 stands for none (no design without crashkernel= keeps a record in RAM).
        handoffSlot: crashkernel.length ? handoffSlotOf(crashkernel) : 0,
        ...(quarantine.length ? { quarantine } : {}),
      };
      ctx.state.kernel = kernel;
      // The drivers set up their devices' DMA buffers in ordinary kernel memory.
      const devices = SimulatedDevices.attach(
        ctx,
        ctx.scenario.machine.devices,
        ctx.scenario.machine.iommu,
        kernelFreeMemory(kernel, memMapRange),
      );
      kernel.dmaBuffers = devices.devices.flatMap((d) => d.bufferPages.map((p) => ({ start: p, end: p + PAGE_SIZE })));
      ctx.metrics.iommu = ctx.scenario.machine.iommu;
      ctx.metrics.crashkernelBytes = crashkernel.reduce((s, r) => s + r.end - r.start, 0);
      const quarantineBytes = totalSize(quarantine);
      ctx.metrics.quarantineBytes = quarantineBytes;
      ctx.metrics.ramWithheldBytes = (ctx.metrics.crashkernelBytes as number) + quarantineBytes;
      ctx.metrics.ramWithheldPercent = Math.round(((ctx.metrics.ramWithheldBytes as number) / ctx.machine.ramBytes) * 10000) / 100;
      if (crashkernel.length)
        ctx.log.emit(
          'kernel-boot',
          'info',
          `crashkernel reserved ${crashkernel.map((r) => `${hex(r.start)}-${hex(r.end - 1)}`).join(', ')} (${formatSize(ctx.metrics.crashkernelBytes as number)})`,
        );
      if (quarantine.length)
        ctx.log.emit(
          'kernel-boot',
          'info',
          `firmware footprint quarantined: ${formatSize(quarantineBytes)} in ${quarantine.length} ranges never freed to the allocator`,
        );
      ctx.log.emit('kernel-boot', 'info', `VMCOREINFO note at ${hex(vmcoreinfoPaddr)} (buddy allocator, near the top of RAM)`);
      ctx.clock.advance(seconds(3));
      if (/(^|\s)fadump=on(\s|$)/.test(cmdline)) {
        // fadump (domain reference §4): no capture kernel is loaded; the kernel registers boot memory and the reservation with the firmware.
        const bootBytes = crashkernel.reduce((s, r) => s + r.end - r.start, 0);
        ctx.log.emit(
          'kernel-boot',
          'info',
          `fadump registered: the first ${formatSize(bootBytes)} of RAM (boot memory) to be copied to ${hex(crashkernel[0].start)} at a crash`,
        );
        return;
      }
      if (!crashkernel.length) {
        ctx.log.emit('kernel-boot', 'info', 'no crashkernel= on the command line: nothing reserved, no capture kernel loaded');
        return;
      }
      this.loadCaptureKernel(ctx, kernel);
    });
  }

  /** What `kdump.service` does: load the capture kernel and build the elfcorehdr inside the reservation. */
  private loadCaptureKernel(ctx: RunContext, kernel: KernelState): void {
    const mem = ctx.machine.memory;
    const first = kernel.crashkernel[0];
    const imageStart = kernel.handoffSlot + PAGE_SIZE;
    const imageEnd = Math.min(first.end, imageStart + CAPTURE_IMAGE_BYTES);
    mem.fill({ start: imageStart, end: imageEnd }, 'kernel-text', 2, 'capture kernel image');
    kernel.captureImage = { start: imageStart, end: imageEnd };
    const options = kdumpOptionsOf(ctx.design);
    const last = kernel.crashkernel[kernel.crashkernel.length - 1];
    // Rescue: a copy of VMCOREINFO inside the reservation, which POST leaves alone; the elfcorehdr's PT_NOTE names the copy.
    const copyBytes = pageAlignUp(kernel.vmcoreinfo.size);
    let hdrBytes = pageAlignUp(buildElfCoreHeader(elfCoreHeaderInputOf(kernel)).length);
    const paddr = options.elfcorehdr === 'after-capture-image' ? pageAlignUp(imageEnd) : last.end - hdrBytes;
    if (options.rescue === 'reservation') {
      const copyAt = options.elfcorehdr === 'after-capture-image' ? paddr + hdrBytes : paddr - copyBytes;
      kernel.vmcoreinfoCopy = { paddr: copyAt, size: kernel.vmcoreinfo.size };
      const note = new Uint8Array(kernel.vmcoreinfo.size);
      mem.read(kernel.vmcoreinfo.paddr, note);
      mem.write(copyAt, note);
      kernel.panicWrites.push({ start: copyAt, end: copyAt + kernel.vmcoreinfo.size });
    }
    const hdr = buildElfCoreHeader(elfCoreHeaderInputOf(kernel.vmcoreinfoCopy ? { ...kernel, vmcoreinfo: kernel.vmcoreinfoCopy } : kernel));
    hdrBytes = pageAlignUp(hdr.length);
    const used = {
      start: Math.min(paddr, kernel.vmcoreinfoCopy?.paddr ?? paddr),
      end: Math.max(paddr + hdrBytes, (kernel.vmcoreinfoCopy?.paddr ?? 0) + copyBytes),
    };
    if ((used.start < imageEnd && last === first) || used.end > last.end)
      throw new SimulationError('the reservation is too small for the capture kernel and the elfcorehdr');
    mem.write(paddr, hdr);
    kernel.elfcorehdr = { paddr, size: hdr.length, sha256: createHash('sha256').update(hdr).digest('hex') };
    // kexec_file_load's segments: what purgatory re-hashes at the crash (domain reference §1.3).
    kernel.kexecSegments = [
      { label: 'capture kernel and initramfs', range: kernel.captureImage },
      { label: 'elfcorehdr', range: { start: paddr, end: paddr + pageAlignUp(hdr.length) } },
    ].map((seg) => ({ ...seg, sha256: segmentsDigest(mem, [seg.range]) }));
    kernel.kexecSha256 = segmentsDigest(
      mem,
      kernel.kexecSegments.map((s) => s.range),
    );
    ctx.metrics.elfcorehdrBytes = hdr.length;
    ctx.log.emit(
      'kernel-boot',
      'info',
      `kdump loaded: elfcorehdr ${hdr.length} bytes at ${hex(paddr)}, ${kernel.crashNotes.length + 1} PT_NOTE${kernel.vmcoreinfoCopy ? `; VMCOREINFO rescued into the reservation at ${hex(kernel.vmcoreinfoCopy.paddr)}` : ''}`,
    );
    ctx.clock.advance(seconds(1));
  }

  workload(): StageOperator {
    return stage('workload', (ctx) => {
      const kernel = ctx.state.kernel!;
      // Kernel structures (the image, mem_map, VMCOREINFO) are not user memory: the workload never writes them.
      const memMap = ctx.machine.memory.computedRegions.filter((r) => r.label === 'mem_map');
      const free = kernelFreeMemory(kernel, ...memMap);
      const total = free.reduce((s, r) => s + r.end - r.start, 0);
      const rng = ctx.rng.fork(0x3017);
      const page = new Uint8Array(PAGE_SIZE);
      for (let i = 0; i < ctx.scenario.workload.pageWrites; i++) {
        let off = rng.below(total / PAGE_SIZE) * PAGE_SIZE;
        const r = free.find((x) => (off < x.end - x.start ? true : ((off -= x.end - x.start), false)))!;
        rng.fill(page);
        ctx.machine.memory.write(r.start + off, page);
      }
      ctx.metrics.workloadPageWrites = ctx.scenario.workload.pageWrites;
      ctx.clock.advance(seconds(60));
    });
  }

  panic(): StageOperator {
    return stage('panic', (ctx) => {
      const kernel = ctx.state.kernel!;
      const rng = ctx.rng.fork(0x9a41c);
      const cpu = rng.below(ctx.machine.cpus);
      // machine_crash_shutdown: the other CPUs are stopped by NMI and save their registers.
      kernel.crashNotes.forEach((paddr, n) => {
        const pid = n === cpu ? 1000 + rng.below(30000) : 0;
        ctx.machine.memory.write(paddr, encodeCrashNoteBuffer(pid, simulatedRegisters(rng, n === cpu)));
      });
      ctx.clock.advance(ms(1 + ctx.machine.cpus * 0.05));
      const unixTime = EPOCH_UNIX + Math.floor(ctx.clock.nowUs / 1e6);
      const vmcoreinfo = encodeVmcoreinfoBuffer(vmcoreinfoEntries(unixTime, layoutOfKernelText(kernel.kernelText)));
      ctx.machine.memory.write(kernel.vmcoreinfo.paddr, vmcoreinfo);
      if (kernel.vmcoreinfoCopy) ctx.machine.memory.write(kernel.vmcoreinfoCopy.paddr, vmcoreinfo);
      ctx.state.panic = { cpu, unixTime, reason: 'sysrq: Trigger a crash', tUs: ctx.clock.nowUs };
      // The crashed kernel's struct pages stay as they are now, whatever later overwrites the frames they describe.
      freezeMemMapStates(ctx.machine.memory);
      ctx.log.emit('panic', 'info', `Kernel panic on CPU ${cpu}: sysrq: Trigger a crash`);
      dmaInFlightAtPanic(ctx);
    });
  }
}
