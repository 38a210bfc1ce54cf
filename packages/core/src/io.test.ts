import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IoError } from './errors';
import { AtomicFile, writeFileAtomic } from './io';

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
