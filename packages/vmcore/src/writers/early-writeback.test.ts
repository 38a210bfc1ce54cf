import { closeSync, openSync, writeSync } from 'node:fs';
import { IoError } from '@efikdump/core';
import { tempDir } from '../testing/vmcore-image';
import { EarlyWriteback } from './early-writeback';

describe('EarlyWriteback', () => {
  const tmp = tempDir('early-writeback');
  afterAll(() => tmp.cleanup());

  test('syncs only once a step of bytes was written, and reports a failed sync', async () => {
    // A descriptor that is not open (and never will be here): an fdatasync on it fails with EBADF,
    // which shows whether one ran.
    const fd = 2 ** 30;
    const wb = new EarlyWriteback(fd, tmp.file('none.bin'), 100);
    wb.poke(99);
    await expect(wb.settle()).resolves.toBeUndefined(); // below the step: nothing ran
    wb.poke(100);
    const err = await wb.settle().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IoError);
    expect((err as IoError).message).toMatch(/fdatasync failed: EBADF/);
    expect((err as IoError).file).toBe(tmp.file('none.bin'));
    await expect(wb.idle()).resolves.toBeUndefined(); // idle never throws
  });

  test('on a file being written, settles once the running sync is done', async () => {
    const path = tmp.file('data.bin');
    const fd = openSync(path, 'w');
    try {
      const wb = new EarlyWriteback(fd, path, 4096);
      let written = 0;
      for (let i = 0; i < 8; i++) {
        written += writeSync(fd, Buffer.alloc(4096, i), 0, 4096, written);
        wb.poke(written);
      }
      await expect(wb.settle()).resolves.toBeUndefined();
    } finally {
      closeSync(fd);
    }
  });
});
