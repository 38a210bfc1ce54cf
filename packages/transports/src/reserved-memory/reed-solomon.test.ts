import fc from 'fast-check';
import { rsDecode, rsEncode } from './reed-solomon';

describe('Reed–Solomon GF(2^8)/0x11d, 16 parity bytes per 128-byte block (ramoops ECC)', () => {
  test('a clean block decodes with no correction', () => {
    const data = Uint8Array.from({ length: 128 }, (_, i) => (i * 37) & 0xff);
    const parity = rsEncode(data, 16);
    expect(rsDecode(data.slice(), parity.slice())).toBe(0);
  });

  test('up to 8 corrupted bytes anywhere (data or parity) are corrected exactly', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 128, maxLength: 128 }),
        fc.uniqueArray(fc.nat(143), { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 255 }), { minLength: 8, maxLength: 8 }),
        (data, where, how) => {
          const parity = rsEncode(data, 16);
          const d = data.slice();
          const p = parity.slice();
          where.forEach((pos, i) => {
            if (pos < 128) d[pos] ^= how[i];
            else p[pos - 128] ^= how[i];
          });
          expect(rsDecode(d, p)).toBe(where.length);
          expect(Buffer.from(d)).toEqual(Buffer.from(data));
          expect(Buffer.from(p)).toEqual(Buffer.from(parity));
        },
      ),
      { numRuns: 400 },
    );
  });

  test('more errors than the code corrects are reported, never silently "fixed" into other data', () => {
    let detected = 0;
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 128, maxLength: 128 }),
        fc.uniqueArray(fc.nat(127), { minLength: 9, maxLength: 20 }),
        (data, where) => {
          const parity = rsEncode(data, 16);
          const d = data.slice();
          where.forEach((pos) => {
            d[pos] ^= 0x5a;
          });
          const r = rsDecode(d, parity.slice());
          if (r < 0) detected++;
          // A miscorrection is possible in principle; a claimed success must then be a valid codeword.
          else expect(rsDecode(d.slice(), rsEncode(d, 16))).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
    expect(detected).toBeGreaterThan(190);
  });

  test('other block sizes work, and an impossible one is refused', () => {
    const data = Uint8Array.from({ length: 32 }, (_, i) => i);
    const parity = rsEncode(data, 8);
    data[3] ^= 0xff;
    data[30] ^= 1;
    expect(rsDecode(data, parity)).toBe(2);
    expect(data[3]).toBe(3);
    expect(() => rsEncode(new Uint8Array(250), 16)).toThrow(RangeError);
  });
});
