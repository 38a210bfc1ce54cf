import { fstatSync, readSync } from 'node:fs';
import { FormatError, IoError, openRegularFile } from '@efikdump/core/base';

/** Reads `length` bytes at `position` of a dump file; a file that ends first is a FormatError. */
export function readExactly(fd: number, file: string, position: number, length: number): Uint8Array {
  const buf = new Uint8Array(length);
  readInto(fd, file, position, buf);
  return buf;
}

/** Fills `dst` from `position` of a dump file; a file that ends first is a FormatError. */
export function readInto(fd: number, file: string, position: number, dst: Uint8Array): void {
  let done = 0;
  while (done < dst.length) {
    let n: number;
    try {
      n = readSync(fd, dst, done, dst.length - done, position + done);
    } catch (e) {
      throw new IoError(`read of ${dst.length} bytes failed: ${(e as Error).message}`, { file, offset: position });
    }
    if (n === 0)
      throw new FormatError('file', `${dst.length} bytes at this offset`, `the end of the file after ${done}`, { file, offset: position });
    done += n;
  }
}

/**
 * Opens a dump for reading: non-blocking, and checked with fstat to be a regular file before any
 * read (a FIFO, directory or device is an IoError naming it, and never blocks); failing to open is
 * an IoError naming the file.
 */
export function openForReading(path: string): number {
  return openRegularFile(path).fd;
}

/** `fd`'s size, when it is a regular file (an IoError naming `path` when it is not). */
export function regularFileSize(fd: number, path: string): number {
  const stat = fstatSync(fd);
  if (!stat.isFile()) throw new IoError('not a regular file', { file: path });
  return stat.size;
}
