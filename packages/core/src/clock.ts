import { VirtualTimeScheduler } from 'rxjs';
import { SimulationError } from './errors';

/**
 * Simulated time, in microseconds, on RxJS virtual time. Stages `advance` it by the modelled
 * duration of what they do; a 40 s POST costs no wall time. Timers scheduled on `scheduler`
 * fire as the clock passes them.
 */
export class VirtualClock {
  readonly scheduler = new VirtualTimeScheduler();

  /** Microseconds since power-on. */
  get nowUs(): number {
    return this.scheduler.now();
  }

  advance(durationUs: number): void {
    if (!Number.isFinite(durationUs) || durationUs < 0) {
      throw new SimulationError(`cannot advance the virtual clock by ${durationUs} µs`);
    }
    // Run only what is due by the new time: a timer further ahead (or an interval) stays queued.
    const step = Math.round(durationUs);
    this.scheduler.maxFrames = this.scheduler.frame + step;
    this.scheduler.schedule(() => undefined, step);
    this.scheduler.flush();
  }
}

/** Unix time of the simulated machine's power-on (2026-01-01T00:00:00Z): virtual time counts from here. */
export const EPOCH_UNIX = 1767225600;

export const ms = (n: number): number => n * 1000;
export const seconds = (n: number): number => n * 1_000_000;

/** "12.345 s" / "850.0 ms" / "42 µs" for a duration in microseconds. */
export function formatDuration(us: number): string {
  if (us >= 1_000_000) return `${(us / 1_000_000).toFixed(3)} s`;
  if (us >= 1000) return `${(us / 1000).toFixed(1)} ms`;
  return `${us} µs`;
}
