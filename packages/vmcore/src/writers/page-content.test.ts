import { randomBytes } from 'node:crypto';
import { isZeroRange, looksRandom, RANDOM_PAGE_DISTINCT } from './page-content';

describe('isZeroRange', () => {
  const zero = Buffer.alloc(4096);
  test('tells an all-zero range from one with a non-zero byte anywhere in it', () => {
    const buf = Buffer.alloc(3 * 4096);
    expect(isZeroRange(buf, 4096, 4096, zero)).toBe(true);
    buf[4096 + 3] = 1; // in the first 16 bytes
    expect(isZeroRange(buf, 4096, 4096, zero)).toBe(false);
    buf[4096 + 3] = 0;
    buf[2 * 4096 - 1] = 0x80; // the last byte only
    expect(isZeroRange(buf, 4096, 4096, zero)).toBe(false);
    expect(isZeroRange(buf, 4096, 4095, zero)).toBe(true); // a partial page that stops before it
    expect(isZeroRange(buf, 0, 4096, zero)).toBe(true);
    expect(isZeroRange(buf, 2 * 4096, 4096, zero)).toBe(true);
    expect(isZeroRange(buf, 0, 5, zero)).toBe(true);
  });
});

describe('looksRandom', () => {
  test('random bytes look random; text, a zero page and a page of 128 values do not', () => {
    const buf = Buffer.alloc(4 * 4096);
    randomBytes(4096).copy(buf, 4096);
    buf.write('kernel: page allocation failure: order:0, mode:0x40cc0\n'.repeat(80), 2 * 4096, 'latin1');
    randomBytes(4096).forEach((b, i) => (buf[3 * 4096 + i] = b & 0x7f)); // random, but 7-bit: about 111 distinct in 256 samples
    expect(looksRandom(buf, 4096, 4096)).toBe(true);
    expect(looksRandom(buf, 0, 4096)).toBe(false);
    expect(looksRandom(buf, 2 * 4096, 4096)).toBe(false);
    expect(looksRandom(buf, 3 * 4096, 4096)).toBe(false); // at most 128 distinct values
    expect(looksRandom(buf, 3 * 4096, 4096, 100)).toBe(true); // with a lower threshold it does
    expect(RANDOM_PAGE_DISTINCT).toBe(150);
  });
});
