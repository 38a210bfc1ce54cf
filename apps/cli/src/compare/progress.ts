import type { Output } from '../output';

export type ProgressMode = 'tty' | 'plain' | 'silent';

const fmtSeconds = (s: number) =>
  !Number.isFinite(s)
    ? '?'
    : s >= 90
      ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`
      : `${s.toFixed(s < 10 ? 1 : 0)}s`;

/**
 * Sweep progress on stderr: a redrawn bar with rate and ETA on a terminal, a plain line per 10 %
 * otherwise, nothing in silent mode (--json).
 */
export class SweepProgress {
  private readonly t0: number;
  private lastDraw = 0;
  private lastDecile = -1;
  private drawn = false;

  constructor(
    private readonly io: Output,
    private readonly mode: ProgressMode,
    private readonly now: () => number = Date.now,
  ) {
    this.t0 = now();
  }

  update(done: number, total: number): void {
    if (this.mode === 'silent' || total === 0) return;
    const elapsed = (this.now() - this.t0) / 1000;
    const rate = elapsed > 0 ? done / elapsed : 0;
    const eta = rate > 0 ? (total - done) / rate : Infinity;
    if (this.mode === 'plain') {
      const decile = Math.floor((10 * done) / total);
      if (decile === this.lastDecile && done !== total) return;
      this.lastDecile = decile;
      this.io.err(
        `compare: ${done}/${total} runs (${Math.floor((100 * done) / total)} %), ${rate.toFixed(1)} runs/s, ETA ${fmtSeconds(eta)}`,
      );
      return;
    }
    const t = this.now();
    if (done !== total && t - this.lastDraw < 100) return;
    this.lastDraw = t;
    const width = 30;
    const filled = Math.round((width * done) / total);
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    const line = `compare ${bar} ${done}/${total} ${rate.toFixed(1)} runs/s ETA ${done === total ? '0s' : fmtSeconds(eta)}`;
    this.io.err(this.drawn ? `\x1b[1A\x1b[2K${line}` : line);
    this.drawn = true;
  }
}
