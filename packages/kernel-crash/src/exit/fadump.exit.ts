import { createHash } from 'node:crypto';
import { inject, injectable } from 'tsyringe';
import {
  FIRMWARE,
  formatSize,
  getState,
  hex,
  intersectRanges,
  ms,
  pageAlignUp,
  setState,
  SimulationError,
  stage,
  stateKey,
  subtractRanges,
  totalSize,
  type ExitStrategy,
  type Firmware,
  type PhysRange,
  type RouteInput,
  type StageOperator,
} from '@efikdump/core';
import { buildElfCoreHeader, elfCoreHeaderInputOf } from '../elfcorehdr/build-elfcorehdr';
import { relocateMemMapStates } from '../kernel/mem-map';

/** The kernel's ibm,os-term call into firmware at the panic: [modelled] 5 ms. */
export const FADUMP_OS_TERM_US = ms(5);
/** Firmware copying boot memory: [modelled] 4 GB/s (a memcpy without caches in the way). */
export const FADUMP_COPY_BYTES_PER_SECOND = 4e9;
/** The full production-kernel boot up to /proc/vmcore (domain reference §9.3 has no figure): [modelled] 3 s before the capture stage's own boot time. */
export const FADUMP_KERNEL_BOOT_US = ms(3000);

/** A firmware-assisted dump in progress (this exit's own run state): the boot memory the firmware copied, and where to. */
const FADUMP = stateKey<{ bootMemory: PhysRange[]; destination: number }>('@efikdump/kernel-crash', 'fadump');

/**
 * ppc64 firmware-assisted dump (domain reference §4), on this machine: the 1st kernel registered
 * its boot memory (the first `crashkernel=` bytes of RAM) and the reservation above it as the
 * copy's destination. At the crash the firmware saves the CPU state, copies boot memory into the
 * reservation, resets PCI and the other hardware, does not clear RAM, and boots normally. The
 * next kernel runs in boot memory, sees the dump-active node, builds the elfcorehdr itself (boot
 * memory read from the copy) and exports /proc/vmcore: `ctx.state.capture`.
 */
@injectable()
export class FadumpExit implements ExitStrategy {
  readonly name = 'fadump';
  readonly stubDecides = false;

  constructor(@inject(FIRMWARE) private readonly firmware: Firmware) {}

  /** Firmware's copy and memory-preserving reboot, POST, the full boot that finds the dump, then /proc/vmcore. */
  route(input: RouteInput): StageOperator[] {
    return [
      this.leave(),
      ...input.inFlight,
      input.firmware.resetAndPost(),
      this.afterPost(),
      input.capture.boot(),
      input.capture.vmcoreInit(),
    ];
  }

  leave(): StageOperator {
    return stage('exit', (ctx) => {
      const kernel = ctx.state.kernel;
      if (!kernel) throw new SimulationError('fadump at the panic without a booted kernel');
      ctx.clock.advance(FADUMP_OS_TERM_US);
      ctx.state.devices?.runDma(
        ctx,
        ctx.clock.nowUs - (ctx.state.panic?.tUs ?? ctx.clock.nowUs),
        'kernel',
        'between the panic and the firmware taking over',
      );
      const dest = kernel.crashkernel[0];
      const bootBytes = kernel.crashkernel.reduce((s, r) => s + r.end - r.start, 0);
      const bootMemory = intersectRanges(kernel.systemRam, [{ start: 0, end: bootBytes }]);
      if (dest.start < bootBytes || kernel.crashkernel.length !== 1) {
        ctx.outcome = {
          outcome: 'no-dump',
          reason: `fadump: the reservation at ${hex(dest.start)} is not one range above the ${formatSize(bootBytes)} of boot memory, so firmware refused the registration`,
        };
        return;
      }
      for (const r of bootMemory) {
        ctx.machine.memory.copyRange(r, dest.start + r.start, 'fadump copy of boot memory');
        relocateMemMapStates(ctx.machine.memory, r, dest.start + r.start);
      }
      const copied = totalSize(bootMemory);
      ctx.clock.advance(Math.round((copied / FADUMP_COPY_BYTES_PER_SECOND) * 1e6));
      setState(ctx, FADUMP, { bootMemory, destination: dest.start });
      ctx.metrics.fadumpBootMemoryBytes = copied;
      ctx.log.emit(
        'exit',
        'info',
        `fadump: firmware saved the CPU state and copied ${formatSize(copied)} of boot memory to ${hex(dest.start)}`,
      );
      // The firmware reboots the machine keeping RAM (a memory-preserving reboot; modelled as a warm platform reset).
      this.firmware.resetSystem(ctx, 'warm');
      if (ctx.state.reset) ctx.state.reset.memoryPreserving = true;
    });
  }

  afterPost(): StageOperator {
    return stage('fadump-boot', (ctx) => {
      const kernel = ctx.state.kernel!;
      const fadump = getState(ctx, FADUMP);
      if (!fadump) throw new SimulationError('fadump boot without a saved dump');
      const mem = ctx.machine.memory;
      // The kernel boots in boot memory: its image over the old one (fadump designs keep it at 16 MiB).
      mem.fill(
        { start: kernel.kernelText.paddr, end: kernel.kernelText.paddr + kernel.kernelText.size },
        'kernel-text',
        3,
        'fadump boot kernel',
      );
      const hdr = buildElfCoreHeader(
        elfCoreHeaderInputOf(
          kernel,
          fadump.bootMemory.map((r) => ({ from: r, to: fadump.destination + r.start })),
        ),
      );
      const top = fadump.bootMemory[fadump.bootMemory.length - 1];
      const paddr = top.end - pageAlignUp(hdr.length);
      mem.write(paddr, hdr);
      kernel.elfcorehdr = { paddr, size: hdr.length, sha256: createHash('sha256').update(hdr).digest('hex') };
      const ram = subtractRanges(fadump.bootMemory, [
        { start: 0, end: 0x100000 },
        { start: paddr, end: paddr + pageAlignUp(hdr.length) },
      ]);
      const cmdline = `${kernel.cmdline} elfcorehdr=${paddr / 1024}K`;
      ctx.state.capture = { via: 'fadump', cmdline, ram, elfcorehdr: { paddr, size: hdr.length } };
      ctx.clock.advance(FADUMP_KERNEL_BOOT_US);
      ctx.log.emit(
        'fadump-boot',
        'info',
        `dump active: the kernel runs in ${formatSize(totalSize(ram))} of boot memory and built an elfcorehdr of ${hdr.length} bytes at ${hex(paddr)}`,
      );
    });
  }
}
