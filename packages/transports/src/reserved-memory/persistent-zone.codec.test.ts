import fc from 'fast-check';
import { FormatError, PAGE_SIZE } from '@efikdump/core';
import { decodeZone, encodeZone, ZONE_MAX_DATA_BYTES } from './persistent-zone.codec';

describe('persistent zone (ramoops-like header, CRC-32, Reed–Solomon 16/128)', () => {
  test('round trip of any data that fits', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: ZONE_MAX_DATA_BYTES }), (data) => {
        const { data: back, correctedBytes } = decodeZone(encodeZone(data), 'zone');
        expect(Buffer.from(back)).toEqual(Buffer.from(data));
        expect(correctedBytes).toBe(0);
      }),
      { numRuns: 100 },
    );
  });

  test('scattered bit flips (up to 8 bytes per block) are corrected', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 2000, maxLength: 2700 }), fc.array(fc.nat(PAGE_SIZE - 1), { maxLength: 6 }), (data, flips) => {
        const page = encodeZone(data);
        for (const pos of flips) page[pos] ^= 1 << (pos % 8);
        const { data: back } = decodeZone(page, 'zone');
        expect(Buffer.from(back)).toEqual(Buffer.from(data));
      }),
      { numRuns: 200 },
    );
  });

  test('an overwritten zone (firmware scratch) is refused, naming where', () => {
    const page = encodeZone(new Uint8Array(1000).fill(7));
    page.fill(0xaf, 0, 2048);
    expect(() => decodeZone(page, 'slot', 0x9000000)).toThrow(FormatError);
    try {
      decodeZone(page, 'slot', 0x9000000);
    } catch (e) {
      expect((e as FormatError).describe()).toMatch(/^slot:0x9000000: persistent zone signature: expected 0x/);
    }
  });

  test('random pages and mutated zones end in FormatError or the exact data', () => {
    const data = new Uint8Array(1500).map((_, i) => i * 7);
    const valid = encodeZone(data);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: PAGE_SIZE, maxLength: PAGE_SIZE }), (page) => {
        expect(() => decodeZone(page, 'zone')).toThrow(FormatError);
      }),
      { numRuns: 100 },
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(PAGE_SIZE - 1), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 200 }),
        (edits) => {
          const page = valid.slice();
          for (const [pos, x] of edits) page[pos] ^= x;
          try {
            expect(Buffer.from(decodeZone(page, 'zone').data)).toEqual(Buffer.from(data));
          } catch (e) {
            if (!(e instanceof FormatError)) throw e;
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
