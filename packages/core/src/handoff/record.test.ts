import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import type { HandoffInfo } from '../context';
import { FormatError } from '../errors';
import {
  decodeHandoffRecord,
  encodeHandoffRecord,
  FLAG_ARMED,
  FLAG_CRASHED,
  RECORD_HEADER_BYTES,
  RECORD_MAX_BYTES,
  RECORD_MAX_LOG_BYTES,
  truncateUtf8,
  verifyRecordMac,
} from './record';

const info = (over: Partial<HandoffInfo> = {}): HandoffInfo => ({
  version: 2,
  bootNonce: '0123456789abcdef',
  crashkernel: [{ start: 0x9000000, end: 0xf000000 }],
  elfcorehdr: { paddr: 0xefff000, size: 512, sha256: 'ab'.repeat(32) },
  crashTimeUnix: 1767225689,
  cpus: 4,
  ...over,
});
const key = new Uint8Array(32).fill(9);

describe('handoff record v2', () => {
  test('round trip with reason and log tail, signed', () => {
    const bytes = encodeHandoffRecord(
      { flags: FLAG_ARMED | FLAG_CRASHED, info: info(), reason: 'sysrq: Trigger a crash', logTail: 'Kernel panic - not syncing\n' },
      key,
    );
    const back = decodeHandoffRecord(bytes, 'r');
    expect(back.info).toEqual(info());
    expect(back.reason).toBe('sysrq: Trigger a crash');
    expect(back.logTail).toBe('Kernel panic - not syncing\n');
    expect(verifyRecordMac(bytes, key)).toBe(true);
    expect(verifyRecordMac(bytes, new Uint8Array(32))).toBe(false);
  });

  test('arbitrary records round trip and fit the maximum', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ start: fc.nat(2 ** 30).map((x) => x * 4096), len: fc.integer({ min: 1, max: 2 ** 20 }).map((x) => x * 4096) }),
          { minLength: 1, maxLength: 16 },
        ),
        fc.string({ maxLength: 400 }),
        fc.string({ maxLength: 3000 }),
        fc.integer({ min: 1, max: 8192 }),
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        (ranges, reason, log, cpus, nonce) => {
          const i = info({
            crashkernel: ranges.map((r) => ({ start: r.start, end: r.start + r.len })),
            cpus,
            bootNonce: nonce.toString(16).padStart(16, '0'),
          });
          const bytes = encodeHandoffRecord({ flags: FLAG_CRASHED, info: i, reason, logTail: log });
          expect(bytes.length).toBeLessThanOrEqual(RECORD_MAX_BYTES);
          const back = decodeHandoffRecord(bytes, 'r');
          expect(back.info).toEqual(i);
          expect(reason.startsWith(back.reason) || Buffer.from(reason).subarray(0, 256).toString().startsWith(back.reason)).toBe(true);
          expect(Buffer.byteLength(back.logTail)).toBeLessThanOrEqual(RECORD_MAX_LOG_BYTES);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('truncation to a byte budget never splits a character', () => {
    expect(Buffer.from(truncateUtf8('ééé', 5)).toString()).toBe('éé');
  });

  test('every single-bit flip is rejected by the CRC or a field check, naming the offset', () => {
    const bytes = encodeHandoffRecord({ flags: FLAG_CRASHED, info: info(), reason: 'oops', logTail: 'log' }, key);
    for (let i = 0; i < bytes.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const m = bytes.slice();
        m[i] ^= 1 << bit;
        let err: unknown;
        try {
          decodeHandoffRecord(m, 'slot', 0x1000);
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(FormatError);
        expect((err as FormatError).offset).toBeGreaterThanOrEqual(0x1000);
      }
    }
  });

  test('a truncated record is rejected', () => {
    const bytes = encodeHandoffRecord({ flags: FLAG_CRASHED, info: info(), reason: 'oops', logTail: 'a'.repeat(100) });
    for (const n of [0, 10, 127, 128, 200, bytes.length - 1])
      expect(() => decodeHandoffRecord(bytes.subarray(0, n), 'r')).toThrow(FormatError);
  });

  test('random bytes end in FormatError only', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), (b) => {
        try {
          decodeHandoffRecord(b, 'r');
        } catch (e) {
          if (!(e instanceof FormatError)) throw e;
        }
      }),
      { numRuns: 1000 },
    );
  });

  test('decodes from a larger buffer with garbage after it, from a view at any offset, naming errors at any base', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: RECORD_MAX_BYTES, maxLength: RECORD_MAX_BYTES }),
        fc.nat(64),
        fc.maxSafeNat(),
        (garbage, shift, base) => {
          const bytes = encodeHandoffRecord({ flags: FLAG_CRASHED, info: info(), reason: 'oops', logTail: 'tail' }, key);
          const buf = new Uint8Array(shift + garbage.length);
          buf.set(garbage, shift);
          buf.set(bytes, shift);
          const view = buf.subarray(shift);
          expect(decodeHandoffRecord(view, 'slot', base).info).toEqual(info());
          expect(verifyRecordMac(view.subarray(0, bytes.length), key)).toBe(true);
        },
      ),
      { numRuns: 100 },
    );
  });

  test('lays the header out as documented', () => {
    const bytes = encodeHandoffRecord(
      {
        flags: FLAG_ARMED | FLAG_CRASHED,
        info: info({
          crashkernel: [
            { start: 0x9000000, end: 0xf000000 },
            { start: 2 ** 33, end: 2 ** 33 + 2 ** 28 },
          ],
        }),
        reason: 'abc',
        logTail: 'xy',
      },
      key,
    );
    const v = new DataView(bytes.buffer);
    expect(Buffer.from(bytes.subarray(0, 8)).toString('latin1')).toBe('EFIKDUMP');
    expect([v.getUint16(8, true), v.getUint16(10, true), v.getUint32(12, true)]).toEqual([2, RECORD_HEADER_BYTES, bytes.length]);
    expect([v.getUint32(20, true), v.getBigUint64(24, true), v.getBigInt64(32, true)]).toEqual([4, 0x0123456789abcdefn, 1767225689n]);
    expect([v.getBigUint64(40, true), v.getBigUint64(48, true)]).toEqual([0xefff000n, 512n]);
    expect([v.getUint16(56, true), v.getUint16(58, true), v.getUint32(60, true)]).toEqual([2, 3, FLAG_ARMED | FLAG_CRASHED]);
    expect(Buffer.from(bytes.subarray(64, 96)).toString('hex')).toBe('ab'.repeat(32));
    expect(v.getBigUint64(RECORD_HEADER_BYTES + 16, true)).toBe(2n ** 33n);
    expect(Buffer.from(bytes.subarray(RECORD_HEADER_BYTES + 32, RECORD_HEADER_BYTES + 35)).toString()).toBe('abc');
    expect(v.getUint32(RECORD_HEADER_BYTES + 36, true)).toBe(2);
    expect(bytes.length).toBe(RECORD_HEADER_BYTES + 32 + 4 + 4 + 4);
  });

  test.each([
    ['range count 0xffff', 56, 0xffff, 2, 56],
    ['range count 0', 56, 0, 2, 56],
    ['reason length 0xffff', 58, 0xffff, 2, 58],
    ['length 0xffffffff', 12, 0xffffffff, 4, 12],
  ] as const)('a header claiming %s under a valid CRC fails at its offset, allocating nothing', (_, off, value, width, at) => {
    const bytes = encodeHandoffRecord({ flags: FLAG_CRASHED, info: info(), reason: 'oops', logTail: 'log' });
    const v = new DataView(bytes.buffer);
    if (width === 2) v.setUint16(off, value, true);
    else v.setUint32(off, value, true);
    v.setUint32(16, 0, true);
    v.setUint32(16, crc32(bytes), true);
    const before = process.memoryUsage().arrayBuffers;
    let err: unknown;
    try {
      decodeHandoffRecord(bytes, 'slot', 0x1000);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FormatError);
    expect((err as FormatError).offset).toBe(0x1000 + at);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1 << 20);
  });
});
