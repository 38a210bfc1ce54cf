import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { ConfigError } from '@efikdump/core';
import { buildImage, PS, tempDir, writeImage } from '../testing/vmcore-image';
import { convertDump } from './convert';

describe('convertDump', () => {
  const tmp = tempDir('convert');
  afterAll(() => tmp.cleanup());
  const input = writeImage(
    tmp.file('in.vmcore'),
    buildImage({ ram: [{ start: 0, end: 64 * PS }], kindOf: (pfn) => (pfn % 2 ? 'text' : 'zero') }),
  );

  test('refuses an output that exists and is not a regular file, and leaves it as it was', async () => {
    const fifo = tmp.file('pipe');
    const made = spawnSync('mkfifo', [fifo]);
    const dir = tmp.file('a-directory');
    mkdirSync(dir);
    const targets = made.status === 0 ? [fifo, dir] : [dir];
    for (const target of targets) {
      const err = await convertDump(input, target, { format: 'elf', compress: 'none', dumpLevel: 1 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).message).toMatch(/exists and is not a regular file/);
      expect(statSync(target).isFile()).toBe(false);
    }
    if (made.status === 0) expect(statSync(fifo).isFIFO()).toBe(true);
    expect(readdirSync(tmp.dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  test('writes over an existing regular file', async () => {
    const out = tmp.file('out.elf');
    await convertDump(input, out, { format: 'elf', compress: 'none', dumpLevel: 1 });
    const r = await convertDump(input, out, { format: 'kdump', compress: 'zlib', dumpLevel: 1, threads: 1 });
    expect(existsSync(out)).toBe(true);
    expect(r.bytes).toBe(statSync(out).size);
  });
});
