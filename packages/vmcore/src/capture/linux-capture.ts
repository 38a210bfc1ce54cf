import { inject, injectable, type DependencyContainer } from 'tsyringe';
import {
  EfikdumpError,
  formatSize,
  hashString,
  hex,
  mergeRanges,
  MiB,
  mix32,
  overlaps,
  pageAlignDown,
  pageAlignUp,
  RUN_CONTEXT,
  RUN_CONTAINER,
  FIRMWARE,
  STUB,
  judgeBoot,
  seconds,
  SimulationError,
  stage,
  totalSize,
  captureEntryOfStub,
  captureMemoryNeeded,
  type CaptureEntry,
  type CaptureKernel,
  type RunContext,
  type StageOperator,
  lostPageCount,
  NT_VMCOREINFO,
} from '@efikdump/core';
import { elfCoreHeaderExtent, parseElfCoreHeader } from '../elfcorehdr/parse-elfcorehdr';
import { ProcVmcore } from '../proc-vmcore/proc-vmcore';
import { parseElfcorehdrParam } from './elfcorehdr-param';
import { capturePanicLoop } from './capture-panic-loop';
import { capturePanicReboot } from './capture-panic-reboot';
import { MODELLED_DISK_BYTES_PER_SECOND } from '../writers/elf.writer';

/** The capture kernel image, initramfs and early allocations: at most this much, at most half the first RAM range. */
export const CAPTURE_KERNEL_FOOTPRINT_BYTES = 64 * MiB;
/**
 * [modelled] Capture kernel boot to /proc/vmcore: decompression, early init, initramfs and udev.
 * Not a measured figure; domain reference §9.3 only has kexec's 0.29 s kernel start on arm64.
 */
export const MODELLED_CAPTURE_BOOT_US = seconds(2.5);
/** [modelled] Of that, the time before the IOMMU is initialised (early boot), and from there to driver probe. */
export const CAPTURE_EARLY_BOOT_US = seconds(0.3);
export const CAPTURE_PROBE_US = seconds(1.2);

/** How the capture kernel was entered: the exit's entry, or (for callers that only set a stub verdict) the stub's. */
export function captureEntryOf(ctx: RunContext): CaptureEntry | undefined {
  if (ctx.state.capture) return ctx.state.capture;
  const stub = ctx.state.stub;
  return stub?.crashedBoot ? captureEntryOfStub(stub) : undefined;
}

/**
 * The Linux capture (kdump) kernel: boots inside the RAM the stub gives it, then builds
 * /proc/vmcore from the elfcorehdr named on its command line (Linux fs/proc/vmcore.c).
 */
@injectable()
export class LinuxCaptureKernel implements CaptureKernel {
  /** `run`: the run's container, for the reboot after a capture-kernel panic (absent in unit tests that never panic). */
  constructor(
    @inject(RUN_CONTEXT) readonly ctx: RunContext,
    @inject(RUN_CONTAINER) private readonly run?: DependencyContainer,
  ) {}

  /**
   * The capture boot as a route runs it: one boot, then the double-panic loop — a capture kernel
   * that panics reboots (`panic=10`) through the firmware's POST, the stub and its verdict, and
   * boots again when the stub takes the boot for a crashed one.
   */
  boot(): StageOperator {
    const once = this.bootOnce();
    return (source) =>
      source.pipe(
        once,
        capturePanicLoop(() => {
          if (!this.run) throw new SimulationError('a capture kernel panicked outside a run: no firmware to reboot through');
          const firmware = this.run.resolve(FIRMWARE);
          return [capturePanicReboot(firmware), firmware.resetAndPost(), this.run.resolve(STUB).operator(), judgeBoot(), this.bootOnce()];
        }),
      );
  }

  /** One boot of the capture kernel, into the RAM its entry gives it. */
  bootOnce(): StageOperator {
    return stage('capture-boot', (ctx) => {
      const entry = captureEntryOf(ctx);
      if (!entry) {
        const stub = ctx.state.stub;
        if (!stub)
          throw new SimulationError('the capture kernel boots only from the stub, a kexec jump or a fadump boot (no entry, no stub state)');
        ctx.outcome = { outcome: 'no-dump', reason: `the stub did not detect a crashed boot: ${stub.reason}` };
        return;
      }
      const ram = mergeRanges(entry.ram);
      if (ram.length === 0) throw new SimulationError('the capture kernel was entered with no RAM');
      // The image and its early allocations land at the bottom of the first range; pages outside the capture RAM are never touched.
      const first = ram[0];
      const start = pageAlignUp(first.start);
      const end = pageAlignDown(first.end);
      const bytes = end > start ? pageAlignDown(Math.min(CAPTURE_KERNEL_FOOTPRINT_BYTES, (end - start) / 2)) : 0;
      if (bytes > 0) {
        const footprint = { start, end: start + bytes };
        ctx.machine.memory.fill(footprint, 'kernel-text', mix32(hashString('capture-kernel'), ctx.state.bootCount), 'capture-kernel');
        const hdr = entry.elfcorehdr;
        if (hdr && overlaps(footprint, { start: hdr.paddr, end: hdr.paddr + hdr.size })) {
          ctx.log.emit(
            'capture-boot',
            'warn',
            `the capture kernel was loaded over the elfcorehdr at ${hex(hdr.paddr)}: it was passed as RAM`,
          );
        }
        ctx.log.emit(
          'capture-boot',
          'info',
          `capture kernel loaded at ${hex(footprint.start)}-${hex(footprint.end)} (${formatSize(bytes)})`,
        );
      } else {
        ctx.log.emit(
          'capture-boot',
          'warn',
          `first capture RAM range ${hex(first.start)}-${hex(first.end)} has no room for the kernel image`,
        );
      }
      // Devices that are still running: their DMA through the IOMMU as this entry leaves it, until the drivers probe.
      const choice = ctx.design.capture?.iommu ?? 'copy-tables';
      const oldTablesLive = entry.via === 'kexec';
      ctx.clock.advance(CAPTURE_EARLY_BOOT_US);
      ctx.state.devices?.runDma(
        ctx,
        CAPTURE_EARLY_BOOT_US,
        oldTablesLive ? 'kernel' : 'none',
        'while the capture kernel boots, before it initialises the IOMMU',
      );
      // IOMMU initialisation: after kexec the old tables are copied or translation is turned off;
      // after a platform reset there are no old tables, and fresh, empty ones block stray DMA unless translation stays off.
      const translation = choice === 'copy-tables' ? (oldTablesLive ? 'kernel' : 'blocked') : 'none';
      ctx.metrics.captureIommu = choice;
      if (ctx.state.devices?.iommu === 'translated' && ctx.state.devices.devices.length)
        ctx.log.emit(
          'capture-boot',
          'info',
          `IOMMU: ${choice}${translation === 'blocked' ? ' (no old tables after the reset: unmapped DMA faults and is blocked)' : ''}`,
        );
      if (translation !== 'blocked')
        ctx.state.devices?.runDma(ctx, CAPTURE_PROBE_US, translation, 'between IOMMU initialisation and driver probe');
      ctx.clock.advance(CAPTURE_PROBE_US);
      ctx.state.devices?.reset(ctx, 'probe');
      const fatal = ctx.state.devices?.fatalDamage();
      if (fatal) {
        ctx.outcome = { outcome: 'capture-hang', reason: fatal };
        return;
      }
      ctx.clock.advance(MODELLED_CAPTURE_BOOT_US - CAPTURE_EARLY_BOOT_US - CAPTURE_PROBE_US);
      const total = totalSize(ram);
      ctx.metrics.captureRamBytes = total;
      const need = captureMemoryNeeded({
        oldRamBytes: ctx.machine.ramBytes,
        captureRamBytes: total,
        drivers: (ctx.state.devices?.devices ?? []).filter((d) => d.spec.captureDriver).map((d) => d.spec.kind),
      });
      ctx.metrics.captureMemoryNeededBytes = need.bytes;
      if (total < need.bytes) {
        const biggest = [...need.parts]
          .sort((a, b) => b.bytes - a.bytes)
          .slice(0, 3)
          .map((p) => `${p.label} ${formatSize(p.bytes)}`)
          .join(', ');
        ctx.outcome = {
          outcome: 'capture-oom',
          reason: `the capture kernel needs ${formatSize(need.bytes)} (${biggest}, ...) but has ${formatSize(total)}: out of memory`,
        };
        ctx.log.emit(
          'capture-boot',
          'warn',
          `Out of memory: the capture kernel has ${formatSize(total)} and needs ${formatSize(need.bytes)}`,
        );
        return;
      }
      ctx.log.emit(
        'capture-boot',
        'info',
        `capture kernel booted with ${formatSize(total)} of RAM in ${ram.length} range(s) (needs ${formatSize(need.bytes)})`,
      );
      // Devices nothing stopped keep writing while the dump is saved (unless fresh IOMMU tables block them): modelled over the dump's write time.
      if (translation !== 'blocked' && ctx.state.devices?.devices.some((d) => d.running)) {
        ctx.state.devices?.runDma(
          ctx,
          (ctx.machine.ramBytes / MODELLED_DISK_BYTES_PER_SECOND) * 1e6,
          translation,
          'while the dump is saved',
        );
        const late = ctx.state.devices?.fatalDamage();
        if (late) ctx.outcome = { outcome: 'capture-hang', reason: late };
      }
    });
  }

  vmcoreInit(): StageOperator {
    return stage('vmcore-init', (ctx) => {
      const cmdline = captureEntryOf(ctx)?.cmdline ?? '';
      try {
        const param = parseElfcorehdrParam(cmdline);
        if (!param) {
          ctx.outcome = { outcome: 'no-dump', reason: 'the capture command line has no elfcorehdr=, so there is no /proc/vmcore' };
          return;
        }
        const memory = ctx.machine.memory;
        const readPhys = (paddr: number, dst: Uint8Array) => memory.read(paddr, dst);
        const isRam = (paddr: number, size: number) => memory.isRam(paddr, size);
        const size = param.sizeBytes ?? elfCoreHeaderExtent(readPhys, param.paddr, isRam);
        const lost = captureEntryOf(ctx)?.declaredLost ?? [];
        const core = parseElfCoreHeader(readPhys, param.paddr, size, { isRam, source: 'old memory', lost });
        for (const w of core.warnings) ctx.log.emit('vmcore-init', 'warn', w);
        if (!core.noteList.some((n) => n.name === 'VMCOREINFO' && n.type === NT_VMCOREINFO)) {
          // As measured on Linux 6.1 (shared/docs/real-e2e.md): a VMCOREINFO note POST overwrote is dropped, and vmcore_init fails.
          ctx.outcome = {
            outcome: 'no-dump',
            reason: 'the VMCOREINFO note in old memory is gone (overwritten since the crash): "Kdump: vmcore not initialized"',
          };
          ctx.log.emit('vmcore-init', 'warn', 'Kdump: vmcore not initialized (no VMCOREINFO note)');
          return;
        }
        const view = ProcVmcore.fromMemory(core, memory);
        ctx.state.vmcore = view;
        ctx.metrics.vmcoreBytes = view.size;
        ctx.metrics.vmcoreNotes = core.noteList.length;
        ctx.log.emit(
          'vmcore-init',
          'info',
          `/proc/vmcore: ${formatSize(view.size)}, ${core.loads.length} PT_LOADs, ${core.noteList.length} notes (elfcorehdr at ${hex(param.paddr)})${core.lost.length ? `; ${lostPageCount(core.lost)} pages in ${core.lost.length} ranges declared lost (EFIKDUMP/LOST note)` : ''}`,
        );
      } catch (e) {
        // A malformed elfcorehdr or command line ends the run without a dump; a simulator bug still fails it.
        if (!(e instanceof EfikdumpError) || e instanceof SimulationError) throw e;
        ctx.log.emit('vmcore-init', 'warn', e.describe());
        ctx.outcome = { outcome: 'no-dump', reason: `vmcore init failed: ${e.describe()}` };
      }
    });
  }
}
