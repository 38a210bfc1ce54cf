import { injectable } from 'tsyringe';
import {
  captureCmdline,
  formatDuration,
  kexecCaptureRam,
  hex,
  ms,
  recordCaptureConsole,
  SimulationError,
  stage,
  totalSize,
  type ExitStrategy,
  type RouteInput,
  type StageOperator,
} from '@efikdump/core';
import { segmentsDigest } from '../kernel/segments-digest';

/** machine_crash_shutdown: the other CPUs stopped, APIC/IOAPIC/HPET off (domain reference §9.3: a kexec shutdown takes 0.03 s). */
export const CRASH_SHUTDOWN_US = ms(30);
/** Purgatory's SHA-256 runs before caches and SIMD are set up: [modelled] 200 MB/s. */
export const PURGATORY_SHA256_BYTES_PER_SECOND = 200e6;

/**
 * Classic kdump (domain reference §1.3–1.4): the panicking kernel stops the other CPUs and jumps
 * through purgatory into the capture kernel the kdump service loaded in the reservation. Purgatory
 * re-hashes the loaded segments and spins forever when they changed. Nothing resets the devices:
 * their DMA goes on into the capture kernel, whose drivers must reset them at probe, and the IOMMU
 * stays as the 1st kernel left it until the capture kernel initialises it (design `capture.iommu`).
 * The capture kernel gets its RAM and `elfcorehdr=` on the command line kexec loaded with it.
 */
@injectable()
export class ClassicKexecExit implements ExitStrategy {
  readonly name = 'classic-kexec';
  readonly stubDecides = false;

  /** The jump, then the capture kernel the kexec entry names (no POST, no stub). */
  route(input: RouteInput): StageOperator[] {
    return [this.leave(), ...input.inFlight, input.capture.boot(), input.capture.vmcoreInit()];
  }

  leave(): StageOperator {
    return stage('exit', (ctx) => {
      const kernel = ctx.state.kernel;
      if (!kernel?.elfcorehdr || !kernel.kexecSegments || !kernel.kexecSha256)
        throw new SimulationError('kexec at the panic without loaded segments');
      ctx.clock.advance(CRASH_SHUTDOWN_US);
      const bytes = totalSize(kernel.kexecSegments.map((s) => s.range));
      const hashUs = Math.round((bytes / PURGATORY_SHA256_BYTES_PER_SECOND) * 1e6);
      ctx.clock.advance(hashUs);
      ctx.state.devices?.runDma(
        ctx,
        ctx.clock.nowUs - (ctx.state.panic?.tUs ?? ctx.clock.nowUs),
        'kernel',
        'between the panic and the jump into the capture kernel',
      );
      ctx.log.emit(
        'exit',
        'info',
        `kexec: purgatory checks the SHA-256 of ${kernel.kexecSegments.length} segments (${(bytes / 2 ** 20).toFixed(0)} MiB, ${formatDuration(hashUs)})`,
      );
      const digest = segmentsDigest(
        ctx.machine.memory,
        kernel.kexecSegments.map((s) => s.range),
      );
      ctx.metrics.resetType = 'none (kexec)';
      // The screen still belongs to the crashed kernel's KMS driver: no GOP re-initialisation without a firmware reset (domain reference §8).
      if (recordCaptureConsole(ctx, false) === 'none') {
        ctx.log.emit(
          'exit',
          'warn',
          "no console for the capture kernel: no serial console, and the screen still belongs to the crashed kernel's KMS driver",
        );
      }
      if (digest !== kernel.kexecSha256) {
        const changed = kernel.kexecSegments.filter((s) => segmentsDigest(ctx.machine.memory, [s.range]) !== s.sha256).map((s) => s.label);
        ctx.outcome = {
          outcome: 'capture-hang',
          reason: `purgatory: sha256 digests do not match (a loaded segment changed since kexec load: ${changed.join(', ')}); it spins forever`,
        };
        return;
      }
      const hdr = kernel.elfcorehdr;
      const ram = kexecCaptureRam(kernel);
      const cmdline = kernel.captureCmdline ?? captureCmdline(kernel.cmdline, ram, hdr.paddr);
      ctx.state.capture = { via: 'kexec', cmdline, ram, elfcorehdr: { paddr: hdr.paddr, size: hdr.size } };
      ctx.log.emit(
        'exit',
        'info',
        `kexec: jump into the capture kernel at ${hex(kernel.captureImage?.start ?? ram[0].start)} (devices are not reset)`,
      );
    });
  }
}
