import {
  accessSync,
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  lstatSync,
  mkdirSync,
  openSync,
  readSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { dirname, basename, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ConfigError, IoError } from './errors';

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
      try {
        closeSync(this.fd);
      } catch {
        /* already closed */
      }
      this.fd = undefined;
    }
    try {
      unlinkSync(this.tempPath);
    } catch {
      /* nothing to remove */
    }
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
 * Writes files into `dir` (created, with its parents, when absent) without touching anything
 * else in it: each file (a name, or `sub/name` one level deep) goes to a temporary name beside
 * its final one, is synced, and is renamed over it, so a reader sees the old file or the whole
 * new one. A user's other files in `dir` survive. Every target is checked before anything is
 * written: `dir` must be a directory (or absent), and a same-named target absent or a regular file.
 */
export function writeDirectoryAtomic(dir: string, files: Iterable<readonly [string, Uint8Array]>): void {
  const list = [...files];
  const dirStat = lstatOrUndefined(dir);
  if (dirStat && !dirStat.isDirectory() && !(dirStat.isSymbolicLink() && statOrUndefined(dir)?.isDirectory())) {
    throw new IoError('exists and is not a directory', { file: dir });
  }
  const seen = new Set<string>();
  for (const [name] of list) {
    const parts = name.split('/');
    if (parts.length > 2 || parts.some((p) => !p || p === '.' || p === '..'))
      throw new IoError(`"${name}" is not a file name or dir/file`, { file: dir });
    if (seen.has(name)) throw new IoError(`"${name}" is written twice`, { file: dir });
    seen.add(name);
    if (parts.length === 2) {
      const sub = lstatOrUndefined(join(dir, parts[0]));
      if (sub && !sub.isDirectory()) throw new IoError('exists and is not a directory', { file: join(dir, parts[0]) });
    }
    const target = lstatOrUndefined(join(dir, name));
    if (target && !target.isFile() && !target.isSymbolicLink())
      throw new IoError('exists and is not a regular file (it is not replaced)', { file: join(dir, name) });
  }
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new IoError(`cannot create the directory: ${(e as Error).message}`, { file: dir });
  }
  for (const [name, bytes] of list) {
    const parts = name.split('/');
    if (parts.length === 2) {
      try {
        mkdirSync(join(dir, parts[0]), { recursive: true });
      } catch (e) {
        throw new IoError(`cannot create the directory: ${(e as Error).message}`, { file: join(dir, parts[0]) });
      }
    }
    writeFileAtomic(join(dir, name), bytes);
  }
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/** JSON inputs (designs, scenarios, profiles, compare inputs) may not be larger than this. */
export const MAX_JSON_BYTES = 64 * 1024 * 1024;

const KIND_NAMES: [(s: Stats) => boolean, string][] = [
  [(s) => s.isDirectory(), 'a directory'],
  [(s) => s.isFIFO(), 'a FIFO'],
  [(s) => s.isSocket(), 'a socket'],
  [(s) => s.isCharacterDevice(), 'a character device'],
  [(s) => s.isBlockDevice(), 'a block device'],
];

/** What kind of file `s` is, for messages ("a directory", "a FIFO", ...). */
export function describeFileKind(s: Stats): string {
  return KIND_NAMES.find(([test]) => test(s))?.[1] ?? (s.isFile() ? 'a regular file' : 'not a regular file');
}

/**
 * Opens `path` for reading without blocking (O_NONBLOCK: opening a FIFO with no writer returns at
 * once instead of waiting) and checks with fstat on that descriptor, before any read, that it is a
 * regular file. Anything else (directory, FIFO, device, socket) is an IoError naming the kind.
 */
export function openRegularFile(path: string, verb: 'open' | 'read' = 'open'): { fd: number; size: number } {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new IoError(`cannot ${verb}: ${err.code === 'EISDIR' ? 'is a directory, not a file' : err.message}`, { file: path });
  }
  try {
    const s = fstatSync(fd);
    if (!s.isFile()) throw new IoError(`expected a regular file, found ${describeFileKind(s)}`, { file: path });
    return { fd, size: s.size };
  } catch (e) {
    closeSync(fd);
    if (e instanceof IoError) throw e;
    throw new IoError(`cannot stat: ${(e as Error).message}`, { file: path });
  }
}

/**
 * The whole of the regular file at `path`, refused (IoError) when larger than `maxBytes`: checked
 * from fstat before reading, and again while reading (a file that grows is not read past the cap).
 */
export function readRegularFile(path: string, maxBytes: number): Buffer {
  const { fd, size } = openRegularFile(path, 'read');
  try {
    if (size > maxBytes) throw new IoError(`is ${size} bytes; at most ${maxBytes} are read`, { file: path });
    const buf = Buffer.alloc(size);
    let done = 0;
    while (done < size) {
      let n: number;
      try {
        n = readSync(fd, buf, done, size - done, done);
      } catch (e) {
        throw new IoError(`read failed: ${(e as Error).message}`, { file: path, offset: done });
      }
      if (n === 0) break;
      done += n;
    }
    return done === size ? buf : buf.subarray(0, done);
  } finally {
    closeSync(fd);
  }
}

/** A path a command reads or writes, named by the option that gave it (for messages). */
export interface CommandPath {
  path: string;
  /** The option or argument, e.g. "--out", "-o", "VMCORE". */
  role: string;
  /** An output directory the command writes into (default: a file). */
  dir?: boolean;
  /** For an output directory: the names the command writes in it, when known. */
  files?: readonly string[];
}

/** `path` with every existing ancestor resolved through symlinks (the path itself need not exist). */
function canonicalPath(path: string): string {
  const abs = resolve(path);
  try {
    return realpathSync.native(abs);
  } catch {
    const parent = dirname(abs);
    return parent === abs ? abs : join(canonicalPath(parent), basename(abs));
  }
}

/** What `path` is, as a set of keys: its canonical path, and dev:inode of what it names (through symlinks) when it exists. */
function identities(path: string): Set<string> {
  const ids = new Set<string>([`path:${canonicalPath(path)}`]);
  const s = statOrUndefined(path);
  if (s) ids.add(`inode:${s.dev}:${s.ino}`);
  return ids;
}

function overlaps(a: Set<string>, b: Set<string>): boolean {
  for (const k of a) if (b.has(k)) return true;
  return false;
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/** Whether this user may replace the existing file `s` at `path`: writable, and (for root, who may write anything) not marked read-only. */
function mayReplace(path: string, s: Stats): boolean {
  try {
    accessSync(path, constants.W_OK);
  } catch {
    return false;
  }
  return !isRoot() || (s.mode & 0o222) !== 0;
}

/** The nearest ancestor of `path` that exists. */
function existingAncestor(path: string): string {
  let p = dirname(resolve(path));
  while (!statOrUndefined(p) && dirname(p) !== p) p = dirname(p);
  return p;
}

/**
 * Refuses (ConfigError, exit 2), before a command does any work, outputs that would destroy
 * something that is not theirs: an output that resolves (path through symlinks, or device and
 * inode, which catches hard links) to one of the command's inputs or to another of its outputs;
 * an existing output file that is not a regular file, or that this user may not write (a file
 * marked read-only is refused even for root); an output directory that exists as something else
 * or is not writable; an output whose directory cannot be created or written.
 */
export function checkOutputs(outputs: readonly CommandPath[], inputs: readonly CommandPath[] = []): void {
  const ins = inputs.map((i) => ({ ...i, ids: identities(i.path) }));
  const outs = outputs.map((o) => {
    const ids = identities(o.path);
    for (const f of o.files ?? []) for (const k of identities(join(o.path, f))) ids.add(k);
    return { ...o, ids };
  });
  outs.forEach((o, i) => {
    const input = ins.find((x) => overlaps(o.ids, x.ids));
    if (input)
      throw new ConfigError(`is also the input ${input.role} (${input.path}); writing it would destroy the input`, {
        file: o.path,
        field: o.role,
      });
    const other = outs.slice(0, i).find((x) => overlaps(o.ids, x.ids));
    if (other)
      throw new ConfigError(`is also the output ${other.role} (${other.path}); one would replace the other`, {
        file: o.path,
        field: o.role,
      });
    const s = statOrUndefined(o.path);
    const l = lstatOrUndefined(o.path);
    if (o.dir) {
      if (l && !s) throw new ConfigError('is a dangling symbolic link, not a directory', { file: o.path, field: o.role });
      if (s && !s.isDirectory())
        throw new ConfigError(`exists and is ${describeFileKind(s)}, not a directory`, { file: o.path, field: o.role });
      if (s) {
        try {
          accessSync(o.path, constants.W_OK | constants.X_OK);
        } catch {
          throw new ConfigError('is a directory this user cannot write into', { file: o.path, field: o.role });
        }
        for (const f of o.files ?? []) {
          const t = lstatOrUndefined(join(o.path, f));
          if (t && !t.isFile() && !t.isSymbolicLink())
            throw new ConfigError(`exists and is ${describeFileKind(t)}; only a regular file is replaced`, {
              file: join(o.path, f),
              field: o.role,
            });
        }
        return;
      }
    } else if (s) {
      if (!s.isFile())
        throw new ConfigError(`exists and is ${describeFileKind(s)}; an output replaces only a regular file`, {
          file: o.path,
          field: o.role,
        });
      if (!mayReplace(o.path, s))
        throw new ConfigError('exists and is read-only; an output replaces only a regular file this user can write', {
          file: o.path,
          field: o.role,
        });
    }
    const ancestor = existingAncestor(o.path);
    const a = statOrUndefined(ancestor);
    if (!a?.isDirectory()) throw new ConfigError(`cannot be created: ${ancestor} is not a directory`, { file: o.path, field: o.role });
    try {
      accessSync(ancestor, constants.W_OK | constants.X_OK);
    } catch {
      throw new ConfigError(`cannot be created: this user cannot write into ${ancestor}`, { file: o.path, field: o.role });
    }
  });
}
