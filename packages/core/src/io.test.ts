import {
  chmodSync,
  closeSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, IoError } from './errors';
import { AtomicFile, checkOutputs, openRegularFile, readRegularFile, writeDirectoryAtomic, writeFileAtomic } from './io';

let root: string;
let n = 0;
/** A directory path of its own for each test; it does not exist until something creates it. */
function freshDir(): string {
  return join(root, `t${n++}`);
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'efikdump-io-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('AtomicFile', () => {
  it('shows nothing at the final path until commit, then exactly what was written', () => {
    const dir = freshDir();
    const path = join(dir, 'dump.vmcore');
    const file = new AtomicFile(path); // also creates the missing directory
    file.writeAt(Buffer.from('hello '), 0);
    file.writeAt(Buffer.from('world'), 6);
    expect(file.size).toBe(11);
    expect(existsSync(path)).toBe(false);
    expect(existsSync(file.tempPath)).toBe(true);
    expect(readdirSync(dir)).toEqual([file.tempPath.slice(dir.length + 1)]);
    file.commit();
    expect(readFileSync(path, 'utf8')).toBe('hello world');
    expect(readdirSync(dir)).toEqual(['dump.vmcore']);
  });

  it('leaves no file behind on abort', () => {
    const dir = freshDir();
    const path = join(dir, 'dump.vmcore');
    const file = new AtomicFile(path);
    file.writeAt(new Uint8Array(4096).fill(1), 0);
    file.abort();
    expect(existsSync(path)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
    expect(() => file.writeAt(Uint8Array.of(1), 0)).toThrow(IoError);
    expect(() => file.commit()).toThrow(IoError);
    expect(existsSync(path)).toBe(false);
  });

  it('keeps an existing file intact until commit replaces it', () => {
    const dir = freshDir();
    const path = join(dir, 'out.json');
    writeFileAtomic(path, 'old and longer content');
    const file = new AtomicFile(path);
    file.writeAt(Buffer.from('new'), 0);
    expect(readFileSync(path, 'utf8')).toBe('old and longer content');
    file.abort();
    expect(readFileSync(path, 'utf8')).toBe('old and longer content');
  });

  it('extends to finalSize with a sparse tail that reads as zeros', () => {
    const dir = freshDir();
    const path = join(dir, 'sparse.vmcore');
    const finalSize = 64 * 1024 * 1024;
    const file = new AtomicFile(path);
    file.writeAt(Buffer.from('ELF!'), 0);
    file.commit(finalSize);
    const st = statSync(path);
    expect(st.size).toBe(finalSize);
    // The hole is not backed by disk blocks (ext4, xfs, tmpfs and overlayfs all keep holes).
    expect(st.blocks * 512).toBeLessThan(finalSize / 2);
    const fd = openSync(path, 'r');
    try {
      const head = Buffer.alloc(4);
      readSync(fd, head, 0, 4, 0);
      expect(head.toString()).toBe('ELF!');
      const chunk = Buffer.alloc(1024 * 1024);
      for (let pos = 4; pos < finalSize; pos += chunk.length) {
        const got = readSync(fd, chunk, 0, chunk.length, pos);
        if (chunk.subarray(0, got).some((b) => b !== 0)) throw new Error(`non-zero byte in the tail near ${pos}`);
      }
    } finally {
      closeSync(fd);
    }
  });

  it('reads skipped ranges between writes as zeros', () => {
    const dir = freshDir();
    const path = join(dir, 'gaps.bin');
    const file = new AtomicFile(path);
    file.writeAt(Uint8Array.of(1, 2), 8190);
    file.writeAt(Uint8Array.of(3), 0);
    expect(file.size).toBe(8192);
    file.commit();
    const bytes = readFileSync(path);
    expect(bytes.length).toBe(8192);
    expect(bytes[0]).toBe(3);
    expect([bytes[8190], bytes[8191]]).toEqual([1, 2]);
    expect(bytes.subarray(1, 8190).every((b) => b === 0)).toBe(true);
  });

  it('gives two concurrent writers of one path separate temporary files', () => {
    const dir = freshDir();
    const path = join(dir, 'dump.vmcore');
    const now = jest.spyOn(Date, 'now').mockReturnValue(1_700_000_000_000);
    let a: AtomicFile | undefined;
    let b: AtomicFile | undefined;
    try {
      a = new AtomicFile(path);
      b = new AtomicFile(path);
      a.writeAt(Buffer.from('AAAA'), 0);
      b.writeAt(Buffer.from('BB'), 0);
      a.commit();
      expect(readFileSync(path, 'utf8')).toBe('AAAA');
      b.commit();
      expect(readFileSync(path, 'utf8')).toBe('BB');
    } finally {
      now.mockRestore();
      a?.abort();
      b?.abort();
    }
  });
});

describe('writeFileAtomic', () => {
  it('replaces an existing file completely, leaving no temporary file', () => {
    const dir = freshDir();
    const path = join(dir, 'truth.json');
    writeFileAtomic(path, 'a much longer previous content\n');
    writeFileAtomic(path, '{"ok":true}\n');
    expect(readFileSync(path, 'utf8')).toBe('{"ok":true}\n');
    writeFileAtomic(path, Uint8Array.of(0, 255, 7));
    expect([...readFileSync(path)]).toEqual([0, 255, 7]);
    expect(readdirSync(dir)).toEqual(['truth.json']);
  });

  it('fails with an IoError naming the path when the directory cannot be created', () => {
    const dir = freshDir();
    const blocker = join(dir, 'not-a-dir');
    writeFileAtomic(blocker, 'x');
    expect(() => writeFileAtomic(join(blocker, 'out.json'), 'y')).toThrow(IoError);
    expect(() => writeFileAtomic(join(blocker, 'out.json'), 'y')).toThrow(expect.objectContaining({ file: blocker }) as unknown as Error);
    expect(readFileSync(blocker, 'utf8')).toBe('x');
  });
});

describe('writeDirectoryAtomic', () => {
  const bytes = (t: string) => new Uint8Array(Buffer.from(t));

  it('creates an absent directory with its parents', () => {
    const dir = join(freshDir(), 'a', 'b');
    writeDirectoryAtomic(dir, [
      ['x.dat', bytes('x')],
      ['sub/y.dat', bytes('y')],
    ]);
    expect(readFileSync(join(dir, 'x.dat'), 'utf8')).toBe('x');
    expect(readFileSync(join(dir, 'sub', 'y.dat'), 'utf8')).toBe('y');
  });

  it('writes into an existing directory: a user file survives, same-named files are replaced, no temporary is left', () => {
    const dir = freshDir();
    mkdirSync(dir);
    writeFileSync(join(dir, 'notes'), 'mine');
    writeFileSync(join(dir, 'x.dat'), 'old');
    writeDirectoryAtomic(dir, [
      ['x.dat', bytes('new')],
      ['y.dat', bytes('y')],
    ]);
    expect(readFileSync(join(dir, 'notes'), 'utf8')).toBe('mine');
    expect(readFileSync(join(dir, 'x.dat'), 'utf8')).toBe('new');
    expect(readdirSync(dir).sort()).toEqual(['notes', 'x.dat', 'y.dat']);
  });

  it('refuses, before writing anything, a target that is a directory, and a dir that is a file', () => {
    const dir = freshDir();
    mkdirSync(join(dir, 'y.dat'), { recursive: true });
    expect(() =>
      writeDirectoryAtomic(dir, [
        ['x.dat', bytes('x')],
        ['y.dat', bytes('y')],
      ]),
    ).toThrow(IoError);
    expect(existsSync(join(dir, 'x.dat'))).toBe(false);
    const file = join(freshDir() + '.f');
    writeFileSync(file, 'user data');
    expect(() => writeDirectoryAtomic(file, [['x.dat', bytes('x')]])).toThrow(/not a directory/);
    expect(readFileSync(file, 'utf8')).toBe('user data');
  });
});

describe('openRegularFile and readRegularFile', () => {
  it('refuses a directory with an IoError naming it', () => {
    expect(() => openRegularFile(root)).toThrow(IoError);
    expect(() => readRegularFile(root, 100)).toThrow(/directory/);
  });

  it('refuses a FIFO at once (no writer: opening blocking would hang)', () => {
    const fifo = join(root, 'fifo');
    if (spawnSync('mkfifo', [fifo]).status !== 0) return; // no mkfifo: nothing to test here
    expect(() => openRegularFile(fifo)).toThrow(/expected a regular file, found a FIFO/);
    expect(() => readRegularFile(fifo, 100)).toThrow(IoError);
  });

  it('refuses a character device (/dev/zero would be read until memory runs out)', () => {
    expect(() => readRegularFile('/dev/zero', 1 << 20)).toThrow(/character device/);
  });

  it('reads a file up to the cap and refuses a larger one before reading it', () => {
    const f = join(root, 'capped.json');
    writeFileSync(f, '0123456789');
    expect(readRegularFile(f, 10).toString()).toBe('0123456789');
    expect(() => readRegularFile(f, 9)).toThrow(/10 bytes; at most 9/);
  });
});

describe('checkOutputs', () => {
  const setup = () => {
    const dir = freshDir();
    mkdirSync(dir);
    const input = join(dir, 'in.json');
    writeFileSync(input, '{}');
    return { dir, input };
  };

  it('accepts new outputs and writable existing regular files', () => {
    const { dir, input } = setup();
    writeFileSync(join(dir, 'old.out'), 'x');
    expect(() =>
      checkOutputs(
        [
          { path: join(dir, 'new.out'), role: '--out' },
          { path: join(dir, 'old.out'), role: '--truth' },
          { path: join(dir, 'art'), role: '--artifacts', dir: true },
        ],
        [{ path: input, role: '--design' }],
      ),
    ).not.toThrow();
  });

  it('refuses an output that is an input by path, through a symlink, through a hard link, or through ..', () => {
    const { dir, input } = setup();
    symlinkSync(input, join(dir, 'sym'));
    linkSync(input, join(dir, 'hard'));
    for (const out of [input, join(dir, 'sym'), join(dir, 'hard'), join(dir, '..', basenameOf(dir), 'in.json')]) {
      expect(() => checkOutputs([{ path: out, role: '-o' }], [{ path: input, role: 'VMCORE' }])).toThrow(ConfigError);
      expect(() => checkOutputs([{ path: out, role: '-o' }], [{ path: input, role: 'VMCORE' }])).toThrow(/is also the input VMCORE/);
    }
    expect(readFileSync(input, 'utf8')).toBe('{}');
  });

  it('refuses two outputs that are one file (--out X --truth X), existing or not', () => {
    const { dir } = setup();
    const x = join(dir, 'x');
    expect(() =>
      checkOutputs([
        { path: x, role: '--out' },
        { path: x, role: '--truth' },
      ]),
    ).toThrow(/is also the output --out/);
    writeFileSync(x, '');
    symlinkSync(x, join(dir, 'y'));
    expect(() =>
      checkOutputs([
        { path: x, role: '--out' },
        { path: join(dir, 'y'), role: '--truth' },
      ]),
    ).toThrow(/is also the output --out/);
  });

  it('refuses a file inside an output directory that another output names', () => {
    const { dir } = setup();
    expect(() =>
      checkOutputs([
        { path: join(dir, 'acpi'), role: '--acpi', dir: true, files: ['xsdt.dat'] },
        { path: join(dir, 'acpi', 'xsdt.dat'), role: '--rsdp' },
      ]),
    ).toThrow(/is also the output --acpi/);
  });

  it('refuses an existing read-only file (even for root), a directory, a FIFO or a device as an output file', () => {
    const { dir } = setup();
    const ro = join(dir, 'ro');
    writeFileSync(ro, 'keep');
    chmodSync(ro, 0o444);
    expect(() => checkOutputs([{ path: ro, role: '--out' }])).toThrow(/read-only/);
    expect(() => checkOutputs([{ path: dir, role: '--out' }])).toThrow(/is a directory/);
    expect(() => checkOutputs([{ path: '/dev/null', role: '-o' }])).toThrow(/character device/);
  });

  it('refuses an output directory that exists as a file, and one this user cannot create', () => {
    const { input } = setup();
    expect(() => checkOutputs([{ path: input, role: '--report', dir: true }])).toThrow(/not a directory/);
    expect(() => checkOutputs([{ path: join(input, 'sub'), role: '--report', dir: true }])).toThrow(/is not a directory/);
  });
});

function basenameOf(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}
