import { inject, injectable } from 'tsyringe';
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
  seconds,
  SimulationError,
  stage,
  totalSize,
  type CaptureKernel,
  type RunContext,
  type StageOperator,
} from '@efikdump/core';
import { elfCoreHeaderExtent, parseElfCoreHeader } from '../elfcorehdr/parse-elfcorehdr';
import { ProcVmcore } from '../proc-vmcore/proc-vmcore';
import { parseElfcorehdrParam } from './elfcorehdr-param';

/** The capture kernel image, initramfs and early allocations: at most this much, at most half the first RAM range. */
export const CAPTURE_KERNEL_FOOTPRINT_BYTES = 64 * MiB;
/**
 * [modelled] Capture kernel boot to /proc/vmcore: decompression, early init, initramfs and udev.
 * Not a measured figure; domain reference §9.3 only has kexec's 0.29 s kernel start on arm64.
 */
export const MODELLED_CAPTURE_BOOT_US = seconds(2.5);

/**
 * The Linux capture (kdump) kernel: boots inside the RAM the stub gives it, then builds
 * /proc/vmcore from the elfcorehdr named on its command line (Linux fs/proc/vmcore.c).
 */
@injectable()
export class LinuxCaptureKernel implements CaptureKernel {
  constructor(@inject(RUN_CONTEXT) readonly ctx: RunContext) {}

  boot(): StageOperator {
    return stage('capture-boot', (ctx) => {
      const stub = ctx.state.stub;
      if (!stub) throw new SimulationError('the capture kernel boots only from the stub (no stub state)');
      if (!stub.crashedBoot) {
        ctx.outcome = { outcome: 'no-dump', reason: `the stub did not detect a crashed boot: ${stub.reason}` };
        return;
      }
      const ram = mergeRanges(stub.captureRam ?? []);
      if (ram.length === 0) throw new SimulationError('the stub detected a crashed boot but gave the capture kernel no RAM');
      // The image and its early allocations land at the bottom of the first range; pages outside the capture RAM are never touched.
      const first = ram[0];
      const start = pageAlignUp(first.start);
      const end = pageAlignDown(first.end);
      const bytes = end > start ? pageAlignDown(Math.min(CAPTURE_KERNEL_FOOTPRINT_BYTES, (end - start) / 2)) : 0;
      if (bytes > 0) {
        const footprint = { start, end: start + bytes };
        ctx.machine.memory.fill(footprint, 'kernel-text', mix32(hashString('capture-kernel'), ctx.state.bootCount), 'capture-kernel');
        const hdr = stub.handoff?.elfcorehdr;
        if (hdr && overlaps(footprint, { start: hdr.paddr, end: hdr.paddr + hdr.size })) {
          ctx.log.emit('capture-boot', 'warn', `the capture kernel was loaded over the elfcorehdr at ${hex(hdr.paddr)}: the stub passed it as RAM`);
        }
        ctx.log.emit('capture-boot', 'info', `capture kernel loaded at ${hex(footprint.start)}-${hex(footprint.end)} (${formatSize(bytes)})`);
      } else {
        ctx.log.emit('capture-boot', 'warn', `first capture RAM range ${hex(first.start)}-${hex(first.end)} has no room for the kernel image`);
      }
      ctx.clock.advance(MODELLED_CAPTURE_BOOT_US);
      ctx.log.emit('capture-boot', 'info', `capture kernel booted with ${formatSize(totalSize(ram))} of RAM in ${ram.length} range(s)`);
    });
  }

  vmcoreInit(): StageOperator {
    return stage('vmcore-init', (ctx) => {
      const cmdline = ctx.state.stub?.captureCmdline ?? '';
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
        const core = parseElfCoreHeader(readPhys, param.paddr, size, { isRam, source: 'old memory' });
        for (const w of core.warnings) ctx.log.emit('vmcore-init', 'warn', w);
        const view = ProcVmcore.fromMemory(core, memory);
        ctx.state.vmcore = view;
        ctx.metrics.vmcoreBytes = view.size;
        ctx.metrics.vmcoreNotes = core.noteList.length;
        ctx.log.emit('vmcore-init', 'info',
          `/proc/vmcore: ${formatSize(view.size)}, ${core.loads.length} PT_LOADs, ${core.noteList.length} notes (elfcorehdr at ${hex(param.paddr)})`);
      } catch (e) {
        // A malformed elfcorehdr or command line ends the run without a dump; a simulator bug still fails it.
        if (!(e instanceof EfikdumpError) || e instanceof SimulationError) throw e;
        ctx.log.emit('vmcore-init', 'warn', e.describe());
        ctx.outcome = { outcome: 'no-dump', reason: `vmcore init failed: ${e.describe()}` };
      }
    });
  }
}
