import { seconds } from './clock';
import type { Firmware, StageOperator } from './contracts';
import { stage } from './stage';
import { formatDuration } from './clock';

/** A capture kernel that panics reboots after `panic=10` (the capture command line, domain reference §1.4). */
export const CAPTURE_PANIC_REBOOT_US = seconds(10);
/**
 * A reboot through the firmware that is not the design's exit: root's `reboot` after a forgery,
 * or a capture kernel rebooting `panic=10` seconds after its own panic. Both are EfiResetWarm
 * without a crash reason of ours.
 */
export function rebootRequest(firmware: Firmware): StageOperator {
  return stage('reboot', (ctx) => {
    if (ctx.state.forgery) {
      ctx.clock.advance(seconds(1));
      firmware.resetSystem(ctx, 'warm', ctx.state.handoff?.resetData);
      return;
    }
    ctx.clock.advance(CAPTURE_PANIC_REBOOT_US);
    ctx.log.emit('reboot', 'info', `the capture kernel reboots after panic=10 (${formatDuration(CAPTURE_PANIC_REBOOT_US)})`);
    firmware.resetSystem(ctx, 'warm');
  });
}

/**
 * [modelled] Sequential write throughput of the dump target, charged per byte a writer writes and,
 * when the run writes no file (no `--out`), for /proc/vmcore. Domain reference §3.4 says to
 * parameterise speed (2005: `cp` ≈ 59 MB/s); 500 MB/s stands for a current SATA/NVMe SSD.
 */
export const MODELLED_DUMP_BYTES_PER_SECOND = 500_000_000;

/**
 * The dump is on disk: crash-to-dump time, from the panic to the end of the writer. A run that
 * wrote no file is charged the time to write /proc/vmcore at MODELLED_DUMP_BYTES_PER_SECOND.
 */
export function dumpOnDisk(): StageOperator {
  return stage('dump-done', (ctx) => {
    const t0 = ctx.state.panic?.tUs;
    if (t0 === undefined) return;
    if (!ctx.state.dump && ctx.state.vmcore) {
      const us = Math.round((ctx.state.vmcore.size / MODELLED_DUMP_BYTES_PER_SECOND) * 1e6);
      ctx.clock.advance(us);
      ctx.metrics.dumpWriteModelledUs = us;
    }
    ctx.metrics.crashToDumpUs = Math.round(ctx.clock.nowUs - t0);
    ctx.log.emit('dump-done', 'info', `crash to dump on disk: ${formatDuration(Math.round(ctx.clock.nowUs - t0))}`);
  });
}
