import { closeSync, existsSync, fsyncSync, ftruncateSync, mkdirSync, openSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { EfikdumpError, IoError } from './errors';

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

/**
 * Writes a whole directory of files so that a reader sees either the old directory or the complete
 * new one: the files (names, or `dir/name` one level deep) go into a temporary sibling, each synced,
 * which is then renamed over `dir` (an existing `dir` is moved aside first and removed after).
 * A failure leaves `dir` untouched.
 */
export function writeDirectoryAtomic(dir: string, files: Iterable<readonly [string, Uint8Array]>): void {
  const tag = `${process.pid}.${randomBytes(6).toString('hex')}`;
  const temp = join(dirname(dir), `.${basename(dir)}.${tag}.tmp`);
  const aside = join(dirname(dir), `.${basename(dir)}.${tag}.old`);
  try {
    mkdirSync(temp, { recursive: true });
    for (const [name, bytes] of files) {
      const parts = name.split('/');
      if (parts.length > 2 || parts.some((p) => !p || p === '.' || p === '..')) throw new IoError(`"${name}" is not a file name or dir/file`, { file: dir });
      if (parts.length === 2) mkdirSync(join(temp, parts[0]), { recursive: true });
      const path = join(temp, name);
      writeFileSync(path, bytes, { mode: 0o644 });
      const fd = openSync(path, 'r');
      try { fsyncSync(fd); } finally { closeSync(fd); }
    }
  } catch (e) {
    rmSync(temp, { recursive: true, force: true });
    if (e instanceof EfikdumpError) throw e;
    throw new IoError(`cannot write: ${(e as Error).message}`, { file: dir });
  }
  try {
    const had = existsSync(dir);
    if (had && !statSync(dir).isDirectory()) throw new Error('exists and is not a directory');
    if (had) renameSync(dir, aside);
    renameSync(temp, dir);
    if (had) rmSync(aside, { recursive: true, force: true });
  } catch (e) {
    rmSync(temp, { recursive: true, force: true });
    if (existsSync(aside) && !existsSync(dir)) renameSync(aside, dir);
    throw new IoError(`cannot complete the directory: ${(e as Error).message}`, { file: dir });
  }
}
