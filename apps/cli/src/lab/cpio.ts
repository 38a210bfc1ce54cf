/**
 * A newc ("070701") cpio archive, the format the kernel unpacks as an initramfs
 * (Documentation/driver-api/early-userspace/buffer-format.rst). Deterministic: inode numbers are
 * assigned in order, times are 0, owner root.
 */
export type CpioEntry =
  | { kind: 'dir'; path: string; mode?: number }
  | { kind: 'file'; path: string; data: Uint8Array; mode?: number }
  | { kind: 'symlink'; path: string; target: string };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const HEADER_BYTES = 110;

const hex8 = (n: number) => n.toString(16).padStart(8, '0');
const pad4 = (n: number) => (4 - (n % 4)) % 4;

function header(ino: number, mode: number, nlink: number, fileSize: number, nameSize: number): string {
  // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check
  return '070701' + [ino, mode, 0, 0, nlink, 0, fileSize, 0, 0, 0, 0, nameSize, 0].map(hex8).join('');
}

/** The archive bytes for `entries` (parents must come before their children), ending with TRAILER!!!. */
export function writeCpio(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  const push = (b: Buffer) => {
    parts.push(b);
    offset += b.length;
  };
  const record = (ino: number, mode: number, nlink: number, name: string, data: Uint8Array) => {
    const nameBytes = Buffer.from(name + '\0', 'utf8');
    push(Buffer.from(header(ino, mode, nlink, data.length, nameBytes.length), 'latin1'));
    push(nameBytes);
    push(Buffer.alloc(pad4(HEADER_BYTES + nameBytes.length)));
    push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    push(Buffer.alloc(pad4(data.length)));
  };
  entries.forEach((e, i) => {
    const name = e.path.replace(/^\/+/, '');
    if (!name || name.split('/').includes('..')) throw new RangeError(`cpio entry ${i}: bad path "${e.path}"`);
    if (e.kind === 'dir') record(i + 1, S_IFDIR | (e.mode ?? 0o755), 2, name, new Uint8Array(0));
    else if (e.kind === 'file') record(i + 1, S_IFREG | (e.mode ?? 0o644), 1, name, e.data);
    else record(i + 1, S_IFLNK | 0o777, 1, name, Buffer.from(e.target, 'utf8'));
  });
  record(0, 0, 1, 'TRAILER!!!', new Uint8Array(0));
  void offset;
  return Buffer.concat(parts);
}
