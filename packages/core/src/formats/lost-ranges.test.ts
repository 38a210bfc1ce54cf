import fc from 'fast-check';
import { FormatError } from '../errors';
import { decodeLostRanges, encodeLostRanges, LOST_REASONS, lostPageCount, type LostRange, type LostReason } from './lost-ranges';

const reasons = Object.keys(LOST_REASONS) as LostReason[];

const rangesArb = fc
  .array(fc.tuple(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 1, max: 50 }), fc.constantFrom(...reasons)), { maxLength: 20 })
  .map((parts) => {
    let cursor = 0;
    return parts.map(([gap, len, reason]): LostRange => {
      const start = (cursor + gap) * 4096;
      const end = start + len * 4096;
      cursor = end / 4096;
      return { start, end, reason };
    });
  });

describe('lost-ranges note', () => {
  it('round-trips any sorted list of page ranges', () => {
    fc.assert(
      fc.property(rangesArb, (ranges) => {
        expect(decodeLostRanges(encodeLostRanges(ranges))).toEqual(ranges);
      }),
    );
  });

  it('counts pages', () => {
    expect(
      lostPageCount([
        { start: 0x1000, end: 0x4000, reason: 'dma' },
        { start: 0x10000, end: 0x11000, reason: 'firmware-footprint' },
      ]),
    ).toBe(4);
  });

  it('refuses a count the buffer does not hold, naming the offset', () => {
    const desc = encodeLostRanges([{ start: 0, end: 0x1000, reason: 'dma' }]);
    new DataView(desc.buffer).setUint32(4, 0xffffffff, true);
    expect(() => decodeLostRanges(desc, { file: 'd.vmcore', base: 0x100 })).toThrow(FormatError);
    expect(() => decodeLostRanges(desc, { file: 'd.vmcore', base: 0x100 })).toThrow(/for 4294967295 entries/);
  });

  it('refuses unsorted, unaligned or unknown-reason entries', () => {
    const two = encodeLostRanges([
      { start: 0, end: 0x1000, reason: 'dma' },
      { start: 0x2000, end: 0x3000, reason: 'dma' },
    ]);
    const v = new DataView(two.buffer);
    const swapped = two.slice();
    new DataView(swapped.buffer).setBigUint64(8 + 24, 0n, true);
    expect(() => decodeLostRanges(swapped)).toThrow(/after the previous one/);
    const unaligned = two.slice();
    new DataView(unaligned.buffer).setBigUint64(8, 5n, true);
    expect(() => decodeLostRanges(unaligned)).toThrow(/page-aligned/);
    v.setUint32(8 + 16, 99, true);
    expect(() => decodeLostRanges(two)).toThrow(/reason/);
  });

  it('never throws anything but FormatError on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          decodeLostRanges(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(FormatError);
        }
      }),
    );
  });
});
