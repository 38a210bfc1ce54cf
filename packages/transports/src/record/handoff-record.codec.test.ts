import fc from 'fast-check';
import { FormatError, type HandoffInfo } from '@efikdump/core';
import {
  decodeHandoffRecord, encodeHandoffRecord, FLAG_ARMED, FLAG_CRASHED, RECORD_MAX_BYTES, RECORD_MAX_LOG_BYTES,
  truncateUtf8, verifyRecordMac,
} from './handoff-record.codec';

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
    const bytes = encodeHandoffRecord({ flags: FLAG_ARMED | FLAG_CRASHED, info: info(), reason: 'sysrq: Trigger a crash', logTail: 'Kernel panic - not syncing\n' }, key);
    const back = decodeHandoffRecord(bytes, 'r');
    expect(back.info).toEqual(info());
    expect(back.reason).toBe('sysrq: Trigger a crash');
    expect(back.logTail).toBe('Kernel panic - not syncing\n');
    expect(verifyRecordMac(bytes, key)).toBe(true);
    expect(verifyRecordMac(bytes, new Uint8Array(32))).toBe(false);
  });

  test('arbitrary records round trip and fit the maximum', () => {
    fc.assert(fc.property(
      fc.array(fc.record({ start: fc.nat(2 ** 30).map((x) => x * 4096), len: fc.integer({ min: 1, max: 2 ** 20 }).map((x) => x * 4096) }), { minLength: 1, maxLength: 16 }),
      fc.string({ maxLength: 400 }), fc.string({ maxLength: 3000 }), fc.integer({ min: 1, max: 8192 }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      (ranges, reason, log, cpus, nonce) => {
        const i = info({ crashkernel: ranges.map((r) => ({ start: r.start, end: r.start + r.len })), cpus, bootNonce: nonce.toString(16).padStart(16, '0') });
        const bytes = encodeHandoffRecord({ flags: FLAG_CRASHED, info: i, reason, logTail: log });
        expect(bytes.length).toBeLessThanOrEqual(RECORD_MAX_BYTES);
        const back = decodeHandoffRecord(bytes, 'r');
        expect(back.info).toEqual(i);
        expect(reason.startsWith(back.reason) || Buffer.from(reason).subarray(0, 256).toString().startsWith(back.reason)).toBe(true);
        expect(Buffer.byteLength(back.logTail)).toBeLessThanOrEqual(RECORD_MAX_LOG_BYTES);
      }), { numRuns: 300 });
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
    for (const n of [0, 10, 127, 128, 200, bytes.length - 1]) expect(() => decodeHandoffRecord(bytes.subarray(0, n), 'r')).toThrow(FormatError);
  });

  test('random bytes end in FormatError only', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 3000 }), (b) => {
      try {
        decodeHandoffRecord(b, 'r');
      } catch (e) {
        if (!(e instanceof FormatError)) throw e;
      }
    }), { numRuns: 1000 });
  });
});
