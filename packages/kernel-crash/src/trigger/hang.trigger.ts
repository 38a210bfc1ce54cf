import { injectable } from 'tsyringe';
import {
  formatDuration,
  judgeBoot,
  seconds,
  SimulationError,
  stage,
  type CrashTrigger,
  type RouteInput,
  type StageOperator,
} from '@efikdump/core';
import { freezeMemMapStates } from '../kernel/mem-map';

/**
 * [sourced] iTCO_wdt's default heartbeat, 30 s (drivers/watchdog/iTCO_wdt.c, WATCHDOG_TIMEOUT):
 * the time from the last ping to the platform reset. [assumption] The machine hangs right after a
 * ping, so the whole heartbeat passes before the reset.
 */
export const WATCHDOG_HEARTBEAT_US = seconds(30);

/**
 * The 1st kernel hangs (every CPU spinning with interrupts off) instead of panicking, and the
 * hardware watchdog resets the machine. No panic path runs: nothing is persisted, no kexec jump,
 * no ResetSystem. Kdump needs a panic, so kexec and capture-kernel designs boot normally after the
 * reset (no dump); a firmware that writes the dump keys on the abnormal reset and still writes.
 * Not modelled: `kernel.hardlockup_panic=1` / `softlockup_panic=1`, which turn a hang into a panic
 * after the lockup detector's threshold (watchdog_thresh, 10 s; 20 s for soft lockups).
 */
@injectable()
export class HangTrigger implements CrashTrigger {
  readonly name = 'hang';
  readonly persists = false;

  stages(): StageOperator[] {
    return [
      stage('hang', (ctx) => {
        ctx.log.emit('hang', 'warn', 'the kernel hangs with interrupts off on every CPU: no panic, nothing pings the watchdog');
        // The hung kernel's struct pages stay as they are now, whatever POST later writes over the frames they describe.
        freezeMemMapStates(ctx.machine.memory);
      }),
    ];
  }

  route(input: RouteInput): StageOperator[] {
    const watchdog = stage('watchdog', (ctx) => {
      ctx.clock.advance(WATCHDOG_HEARTBEAT_US);
      ctx.state.devices?.runDma(ctx, WATCHDOG_HEARTBEAT_US, 'kernel', 'while the machine hangs');
      if (!input.firmware.watchdogReset) throw new SimulationError("the design's firmware cannot model a watchdog reset");
      input.firmware.watchdogReset(ctx);
    });
    const after = input.exit.afterWatchdogReset?.(input) ?? [input.firmware.resetAndPost(), input.stub.operator(), judgeBoot()];
    const verdict = stage('hang-verdict', (ctx) => {
      if (ctx.state.vmcore) return;
      ctx.outcome = {
        outcome: 'no-dump',
        reason: `the machine hung and the watchdog reset it after ${formatDuration(WATCHDOG_HEARTBEAT_US)}; no panic path ran, so ${input.exit.name} had nothing to start from and the next boot was a normal one`,
      };
    });
    return [watchdog, ...after, verdict];
  }
}
