import fc from 'fast-check';
import { FormatError } from '@efikdump/core';
import { decodeResetData, encodeResetData } from './reset-data.codec';

describe('UEFI 2.10 §8.5.1 ResetData', () => {
  it('is a NUL-terminated UCS-2 string, then for platform-specific resets a GUID', () => {
    const b = encodeResetData({ reason: 'kdump', guid: 'cfc8fc79-be2e-4ddc-97f0-9f98bfe298a0' });
    expect(Array.from(b.subarray(0, 12))).toEqual([0x6b, 0, 0x64, 0, 0x75, 0, 0x6d, 0, 0x70, 0, 0, 0]);
    expect(b.length).toBe(12 + 16);
    expect(decodeResetData(b, true)).toEqual({ reason: 'kdump', guid: 'cfc8fc79-be2e-4ddc-97f0-9f98bfe298a0', extra: new Uint8Array(0) });
    expect(decodeResetData(b, false).reason).toBe('kdump');
  });
  it('round-trips, and refuses a string without NUL or a missing GUID', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.integer({ min: 1, max: 0xd7ff }).map((c) => String.fromCharCode(c)), maxLength: 40 }),
        fc.uuid(),
        (reason, guid) => {
          expect(decodeResetData(encodeResetData({ reason, guid: guid.toLowerCase() }), true)).toMatchObject({
            reason,
            guid: guid.toLowerCase(),
          });
        },
      ),
    );
    expect(() => decodeResetData(Uint8Array.of(0x41, 0), false)).toThrow(FormatError);
    expect(() => decodeResetData(Uint8Array.of(0x41, 0, 0, 0), true)).toThrow(FormatError);
  });
});
