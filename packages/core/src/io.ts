import { closeSync, fsyncSync, ftruncateSync, openSync, renameSync, unlinkSync, writeSync, mkdirSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { IoError } from './errors';

/**
 * An output file written under a temporary name in the same directory and renamed over the
 * final name only by `commit()`: a reader never sees a half-written dump, and a failed write
 * leaves nothing behind (`abort()`).
 */
export class AtomicFile {
  readonly tempPath: string;
  private fd: number | undefined;
  private written = 0;

  constructor(readonly path: string) {
    try {
      mkdirSync(dirname(path), { recursive: true });
    } catch (e) {
      throw new IoError(`cannot create the directory: ${(e as Error).message}`, { file: dirname(path) });
    }
    this.tempPath = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      this.fd = openSync(this.tempPath, 'wx', 0o644);
    } catch (e) {
      throw new IoError(`cannot create: ${(e as Error).message}`, { file: this.tempPath });
    }
  }

  /** Bytes up to the highest offset written so far. */
  get size(): number {
    return this.written;
  }

  /** Writes `data` at `position`; skipped ranges read back as zeros (the file may be sparse). */
  writeAt(data: Uint8Array, position: number): void {
    const fd = this.openFd();
    let done = 0;
    try {
      while (done < data.length) done += writeSync(fd, data, done, data.length - done, position + done);
    } catch (e) {
      throw new IoError(`write of ${data.length} bytes failed: ${(e as Error).message}`, { file: this.path, offset: position });
    }
    this.written = Math.max(this.written, position + data.length);
  }

  /** Sets the final size (extends with a hole when larger than what was written), syncs and renames. */
  commit(finalSize = this.written): void {
    const fd = this.openFd();
    try {
      ftruncateSync(fd, finalSize);
      fsyncSync(fd);
      closeSync(fd);
      this.fd = undefined;
      renameSync(this.tempPath, this.path);
    } catch (e) {
      this.abort();
      throw new IoError(`cannot complete the file: ${(e as Error).message}`, { file: this.path });
    }
  }

  /** Closes and removes the temporary file; the final name is never touched. */
  abort(): void {
    if (this.fd !== undefined) {
      try { closeSync(this.fd); } catch { /* already closed */ }
      this.fd = undefined;
    }
    try { unlinkSync(this.tempPath); } catch { /* nothing to remove */ }
  }

  private openFd(): number {
    if (this.fd === undefined) throw new IoError('file is already closed', { file: this.path });
    return this.fd;
  }
}

/** Writes a whole file atomically. */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const file = new AtomicFile(path);
  try {
    file.writeAt(typeof data === 'string' ? Buffer.from(data, 'utf8') : data, 0);
    file.commit();
  } catch (e) {
    file.abort();
    throw e;
  }
}
