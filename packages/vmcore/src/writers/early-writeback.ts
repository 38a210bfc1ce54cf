import { fdatasync } from 'node:fs';
import { IoError, MiB } from '@efikdump/core/base';

/**
 * Starts writing back a file being written while the writing goes on: an fdatasync on libuv's
 * thread pool whenever `stepBytes` more were written and none is running, so that the fsync
 * before the rename (which stays) finds little left to flush. An error is kept and rethrown.
 */
export class EarlyWriteback {
  private pending: Promise<void> | undefined;
  private error: Error | undefined;
  private last = 0;
  constructor(
    private readonly fd: number,
    private readonly path: string,
    private readonly stepBytes = 64 * MiB,
  ) {}
  /** `written`: bytes written so far. */
  poke(written: number): void {
    if (this.pending || this.error || written - this.last < this.stepBytes) return;
    this.last = written;
    this.pending = new Promise((resolve) =>
      fdatasync(this.fd, (err) => {
        if (err) this.error ??= new IoError(`fdatasync failed: ${err.message}`, { file: this.path });
        this.pending = undefined;
        resolve();
      }),
    );
  }
  /** Waits for the running fdatasync; rethrows the first that failed. */
  async settle(): Promise<void> {
    await this.pending;
    if (this.error) throw this.error;
  }
  /** Waits for the running fdatasync, whatever its result (before closing the descriptor on failure). */
  async idle(): Promise<void> {
    await this.pending;
  }
}
