import { inject, injectable } from 'tsyringe';
import {
  DETECTOR, ms, PAGE_SIZE, pageAlignUp, stage, subtractRanges, systemRamFromMemoryMap,
  type CrashDetector, type EfiStub, type PhysRange, type StageOperator,
} from '@efikdump/core';
import { parseCrashkernel, placeCrashkernel } from '@efikdump/kernel-crash';
import { validateHandoff } from './validate-handoff';

/** What Fedora/RHEL add to the capture kernel's command line (kdump-utils, domain reference §1.4). */
export const CAPTURE_CMDLINE_EXTRA = 'irqpoll nr_cpus=1 reset_devices cgroup_disable=memory mce=off numa=off udev.children-max=2 panic=10 acpi_no_memhotplug transparent_hugepage=never nokaslr hest_disable cma=0 pcie_ports=compat novmcoredd';

/** `memmap=exactmap memmap=<n>K@<s>K ...` as kexec-tools passes RAM to a capture kernel. */
export function memmapArgs(ram: readonly PhysRange[]): string {
  return ['memmap=exactmap', ...ram.map((r) => `memmap=${(r.end - r.start) / 1024}K@${r.start / 1024}K`)].join(' ');
}

/**
 * The kernel's EFI stub, with the RFD's hook: after the command line is parsed and before the
 * e820 map is built, ask the detector whether this is a crashed boot; if so validate the handoff
 * and boot as a capture kernel limited to the reservation with `elfcorehdr=` — the same inputs
 * kexec-tools would have given, so the vmcore code is unchanged.
 */
@injectable()
export class LinuxEfiStub implements EfiStub {
  constructor(@inject(DETECTOR) private readonly detector: CrashDetector) {}

  operator(): StageOperator {
    return stage('stub', (ctx) => {
      ctx.clock.advance(ms(150));
      const detection = this.detector.detect(ctx);
      if (!detection.crashed) {
        ctx.state.stub = { crashedBoot: false, detector: this.detector.name, reason: detection.reason };
        ctx.outcome = { outcome: 'no-dump', reason: `the stub booted normally: ${detection.reason}` };
        return;
      }
      const info = detection.info;
      const systemRam = systemRamFromMemoryMap(ctx.state.memoryMap!);
      const spec = parseCrashkernel(ctx.design.kernel.cmdline, ctx.design.source);
      const expected = spec && placeCrashkernel(spec, systemRam, ctx.machine.ramBytes, ctx.design.source);
      if (!expected) {
        ctx.state.stub = { crashedBoot: false, detector: this.detector.name, reason: 'crashkernel= reserves nothing on this machine' };
        ctx.outcome = { outcome: 'no-dump', reason: 'handoff rejected: crashkernel= reserves nothing on this machine' };
        return;
      }
      const invalid = validateHandoff(info, systemRam, ctx.machine.memory, expected.ranges);
      if (invalid) {
        ctx.state.stub = { crashedBoot: false, detector: this.detector.name, reason: invalid };
        ctx.outcome = { outcome: 'no-dump', reason: `handoff rejected: ${invalid}` };
        return;
      }
      // The capture kernel may use the reservation except the handoff slot and the elfcorehdr.
      const reserved: PhysRange[] = [
        { start: info.crashkernel[0].start, end: info.crashkernel[0].start + PAGE_SIZE },
        { start: info.elfcorehdr.paddr, end: info.elfcorehdr.paddr + pageAlignUp(info.elfcorehdr.size) },
      ];
      const captureRam = subtractRanges(info.crashkernel, reserved);
      const captureCmdline = `${CAPTURE_CMDLINE_EXTRA} ${memmapArgs(captureRam)} elfcorehdr=${info.elfcorehdr.paddr / 1024}K`;
      ctx.state.stub = { crashedBoot: true, detector: this.detector.name, reason: detection.evidence, handoff: info, captureCmdline, captureRam };
      ctx.log.emit('stub', 'info', `crashed boot detected (${detection.evidence}); booting the capture kernel with elfcorehdr=${info.elfcorehdr.paddr / 1024}K`);
    });
  }
}
