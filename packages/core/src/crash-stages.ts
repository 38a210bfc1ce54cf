import { concatMap, lastValueFrom, of } from 'rxjs';
import { seconds } from './clock';
import type { Firmware, StageOperator } from './contracts';
import type { RunContext } from './context';
import { hashString, Rng } from './rng';
import { stage } from './stage';
import { formatDuration } from './clock';

/** A capture kernel that panics reboots after `panic=10` (the capture command line, domain reference §1.4). */
export const CAPTURE_PANIC_REBOOT_US = seconds(10);
/** Capture-kernel panics after which a run is called a boot loop. The stub's loop rule should stop it at the first. */
export const MAX_CAPTURE_PANICS = 3;

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
 * The double panic: with the scenario's probability per capture boot the capture kernel panics
 * too. It has no crash kernel of its own, so it reboots; `reboot` (POST, the stub, the verdict,
 * the capture kernel again if the stub takes the boot for a crashed one) runs until a boot is
 * normal — the run then ends `no-dump` with the stub's reason — or MAX_CAPTURE_PANICS capture
 * panics make it a boot loop (`capture-hang`).
 */
export function capturePanicLoop(reboot: StageOperator[]): StageOperator {
  return (source) =>
    source.pipe(
      concatMap(async (ctx) => {
        const rate = ctx.scenario.faults?.capturePanicRate ?? 0;
        if (ctx.outcome || rate <= 0) return ctx;
        for (;;) {
          if (ctx.outcome) return ctx;
          const draw = new Rng(ctx.seed, hashString('capture-panic'), ctx.state.bootCount).next();
          if (draw >= rate) return ctx;
          const n = (ctx.state.capturePanics = (ctx.state.capturePanics ?? 0) + 1);
          ctx.metrics.capturePanics = n;
          ctx.log.emit('capture-boot', 'warn', `the capture kernel panicked too (boot #${ctx.state.bootCount}; panic #${n + 1} of the run)`);
          if (n >= MAX_CAPTURE_PANICS) {
            ctx.outcome = { outcome: 'capture-hang', reason: `boot loop: the capture kernel panicked ${n} times and every reboot was taken for a crashed boot again` };
            return ctx;
          }
          await lastValueFrom(reboot.reduce((obs, op) => obs.pipe(op), of(ctx)));
          const after = ctx.outcome as RunContext['outcome'];
          if (after) {
            ctx.outcome = { ...after, reason: `the capture kernel panicked (double panic) and rebooted; ${after.reason}` };
            return ctx;
          }
        }
      }),
    );
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
