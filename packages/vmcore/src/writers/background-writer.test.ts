import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { IoError } from '@efikdump/core';
import { tempDir } from '../testing/vmcore-image';
import { BackgroundWriter } from './background-writer';

describe('BackgroundWriter', () => {
  const tmp = tempDir('background-writer');
  afterAll(() => tmp.cleanup());

  test('writes runs at their positions, leaves the gaps as zeros, splits data larger than a buffer', async () => {
    const path = tmp.file('out.bin');
    writeFileSync(path, '');
    // 64-byte buffers, at most one in flight: many batches, adjacent appends merged into one run.
    const w = new BackgroundWriter(path, 64, 1);
    const expected = new Uint8Array(1000);
    const put = (position: number, length: number, seed: number) => {
      const bytes = Uint8Array.from({ length }, (_, i) => (seed + i * 7) & 0xff || 1);
      w.append(bytes, position);
      expected.set(bytes, position);
    };
    put(0, 10, 1);
    put(10, 20, 2); // continues the run
    put(100, 64, 3); // a whole buffer
    put(300, 200, 4); // more than a buffer
    await w.throttle();
    put(600, 1, 5);
    put(999, 1, 6);
    await w.finish();
    expect(w.dataBytes).toBe(10 + 20 + 64 + 200 + 1 + 1);
    expect(Buffer.compare(readFileSync(path), Buffer.from(expected))).toBe(0);
  });

  test('a write that fails surfaces as an IoError naming the file', async () => {
    const path = tmp.file('missing/out.bin'); // the writer opens without creating: ENOENT
    const w = new BackgroundWriter(path, 16, 0);
    w.append(new Uint8Array(16).fill(1), 0);
    w.append(new Uint8Array(16).fill(2), 16); // issues the first buffer
    const err = await w.finish().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IoError);
    expect(String((err as Error).message)).toMatch(/write failed: ENOENT/);
    expect((err as IoError).file).toBe(path);
  });

  test('abort stops the thread without writing what was gathered', async () => {
    const path = tmp.file('aborted.bin');
    writeFileSync(path, '');
    const w = new BackgroundWriter(path, 1024, 2);
    w.append(new Uint8Array(100).fill(9), 0);
    await w.abort();
    expect(statSync(path).size).toBe(0);
  });
});
