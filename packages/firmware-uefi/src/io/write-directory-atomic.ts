import { existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync, fsyncSync, openSync, closeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { IoError } from '@efikdump/core';

/**
 * Writes a whole directory of files so that a reader sees either the old directory or the
 * complete new one: the files go into a temporary sibling, which is then renamed over `dir`
 * (an existing `dir` is moved aside first and removed after). A failure leaves `dir` untouched.
 */
export function writeDirectoryAtomic(dir: string, files: ReadonlyMap<string, Uint8Array>): void {
  const parent = dirname(dir);
  const tag = `${process.pid}.${randomBytes(6).toString('hex')}`;
  const temp = join(parent, `.${basename(dir)}.${tag}.tmp`);
  const aside = join(parent, `.${basename(dir)}.${tag}.old`);
  try {
    mkdirSync(temp, { recursive: true });
    for (const [name, bytes] of files) {
      if (!name || name.includes('/') || name === '.' || name === '..') throw new IoError(`"${name}" is not a file name`, { file: dir });
      const path = join(temp, name);
      writeFileSync(path, bytes, { mode: 0o644 });
      const fd = openSync(path, 'r');
      try { fsyncSync(fd); } finally { closeSync(fd); }
    }
  } catch (e) {
    rmSync(temp, { recursive: true, force: true });
    if (e instanceof IoError) throw e;
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
