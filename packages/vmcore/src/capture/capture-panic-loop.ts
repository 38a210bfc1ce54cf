import { concatMap, lastValueFrom, of } from 'rxjs';
import { hashString, Rng, stateKey, updateState, type RunContext, type StageOperator } from '@efikdump/core';

/** Capture-kernel panics after which a run is called a boot loop. The stub's loop rule should stop it at the first. */
export const MAX_CAPTURE_PANICS = 3;

/** Panics of a capture kernel in this run (this package's own run state). */
const CAPTURE_PANICS = stateKey<number>('@efikdump/vmcore', 'capturePanics');

/**
 * The double panic: with the scenario's probability per capture boot the capture kernel panics
 * too. It has no crash kernel of its own, so it reboots; `reboot` (POST, the stub, the verdict,
 * the capture kernel again if the stub takes the boot for a crashed one) runs until a boot is
 * normal — the run then ends `no-dump` with the stub's reason — or MAX_CAPTURE_PANICS capture
 * panics make it a boot loop (`capture-hang`). `reboot` is built only when a panic needs it.
 */
export function capturePanicLoop(reboot: () => StageOperator[]): StageOperator {
  return (source) =>
    source.pipe(
      concatMap(async (ctx) => {
        const rate = ctx.scenario.faults?.capturePanicRate ?? 0;
        if (ctx.outcome || rate <= 0) return ctx;
        for (;;) {
          if (ctx.outcome) return ctx;
          const draw = new Rng(ctx.seed, hashString('capture-panic'), ctx.state.bootCount).next();
          if (draw >= rate) return ctx;
          const n = updateState(ctx, CAPTURE_PANICS, (panics) => (panics ?? 0) + 1);
          ctx.metrics.capturePanics = n;
          ctx.log.emit(
            'capture-boot',
            'warn',
            `the capture kernel panicked too (boot #${ctx.state.bootCount}; panic #${n + 1} of the run)`,
          );
          if (n >= MAX_CAPTURE_PANICS) {
            ctx.outcome = {
              outcome: 'capture-hang',
              reason: `boot loop: the capture kernel panicked ${n} times and every reboot was taken for a crashed boot again`,
            };
            return ctx;
          }
          await lastValueFrom(reboot().reduce((obs, op) => obs.pipe(op), of(ctx)));
          const after = ctx.outcome as RunContext['outcome'];
          if (after) {
            ctx.outcome = { ...after, reason: `the capture kernel panicked (double panic) and rebooted; ${after.reason}` };
            return ctx;
          }
        }
      }),
    );
}
