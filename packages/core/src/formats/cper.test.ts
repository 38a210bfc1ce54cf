import fc from 'fast-check';
import { FormatError } from '../errors';
import {
  cperTimestamp,
  CPER_GUIDS,
  CPER_HEADER_SIZE,
  CPER_SECTION_DESCRIPTOR_SIZE,
  decodeCperRecord,
  encodeCperRecord,
  encodeGuid,
  normalizeGuid,
  readGuid,
  type CperRecord,
} from './cper';

const u8 = fc.nat({ max: 0xff });
const u16 = fc.nat({ max: 0xffff });
const u32 = fc.nat({ max: 0xffffffff });
const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const guidArb = fc.uuid().map((u) => u.toLowerCase());
const asciiArb = (max: number) =>
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: max });

const sectionArb = fc.record({
  revision: u16,
  validationBits: u8,
  flags: u32,
  sectionType: guidArb,
  fruId: guidArb,
  severity: u32,
  fruText: asciiArb(20),
  body: fc.uint8Array({ maxLength: 300 }),
});
const recordArb: fc.Arbitrary<CperRecord> = fc.record({
  revision: u16,
  severity: u32,
  validationBits: u32,
  timestamp: u64,
  platformId: guidArb,
  partitionId: guidArb,
  creatorId: guidArb,
  notificationType: guidArb,
  recordId: u64,
  flags: u32,
  persistenceInfo: u64,
  sections: fc.array(sectionArb, { maxLength: 5 }),
});

function onlyFormatErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof FormatError)) throw e;
  }
}

describe('UEFI 2.10 Appendix A EFI_GUID', () => {
  it('round-trips and lays out the first three fields little-endian', () => {
    fc.assert(fc.property(guidArb, (g) => expect(readGuid(encodeGuid(g), 0)).toBe(g)));
    expect(Array.from(encodeGuid(CPER_GUIDS.sectionDmesg).subarray(0, 8))).toEqual([0x4e, 0xe0, 0x97, 0xc1, 0x45, 0xd5, 0x70, 0x4a]);
    expect(normalizeGuid('{C197E04E-D545-4A70-9C17-A5549419EB12}')).toBe(CPER_GUIDS.sectionDmesg);
    expect(() => normalizeGuid('not-a-guid')).toThrow(FormatError);
  });
});

describe('UEFI 2.10 Appendix N CPER record', () => {
  it('round-trips: decode(encode(x)) == x', () => {
    fc.assert(
      fc.property(recordArb, (r) => expect(decodeCperRecord(encodeCperRecord(r))).toEqual(r)),
      { numRuns: 300 },
    );
  });

  it('lays out the header and descriptors at the spec offsets', () => {
    const body = new TextEncoder().encode('Kernel panic');
    const bytes = encodeCperRecord({
      revision: 0x0101,
      severity: 1,
      validationBits: 2,
      timestamp: 1767225600n,
      platformId: CPER_GUIDS.notifyMce,
      partitionId: CPER_GUIDS.notifyBoot,
      creatorId: CPER_GUIDS.creatorLinuxPstore,
      notificationType: CPER_GUIDS.notifyMce,
      recordId: 0x1122334455667788n,
      flags: 2,
      persistenceInfo: 0n,
      sections: [
        {
          revision: 0x100,
          validationBits: 0,
          flags: 1,
          sectionType: CPER_GUIDS.sectionDmesg,
          fruId: CPER_GUIDS.notifyBoot,
          severity: 1,
          fruText: 'dmesg',
          body,
        },
      ],
    });
    const v = new DataView(bytes.buffer);
    expect(String.fromCharCode(...bytes.subarray(0, 4))).toBe('CPER');
    expect(v.getUint32(6, true)).toBe(0xffffffff);
    expect(v.getUint16(10, true)).toBe(1);
    expect(v.getUint32(20, true)).toBe(CPER_HEADER_SIZE + CPER_SECTION_DESCRIPTOR_SIZE + body.length);
    expect(readGuid(bytes, 64)).toBe(CPER_GUIDS.creatorLinuxPstore);
    expect(v.getBigUint64(96, true)).toBe(0x1122334455667788n);
    // The 200-byte overhead Linux's pstore-erst has (domain reference §6.2).
    expect(v.getUint32(128, true)).toBe(200);
    expect(readGuid(bytes, 128 + 16)).toBe(CPER_GUIDS.sectionDmesg);
    expect(String.fromCharCode(...bytes.subarray(128 + 52, 128 + 57))).toBe('dmesg');
    expect(new TextDecoder().decode(bytes.subarray(200))).toBe('Kernel panic');
  });

  it('writes UEFI BCD timestamps', () => {
    const ts = cperTimestamp(new Date(Date.UTC(2026, 0, 2, 3, 4, 5)));
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, ts, true);
    expect(Array.from(b)).toEqual([0x05, 0x04, 0x03, 0x01, 0x02, 0x01, 0x26, 0x20]);
  });

  it('refuses a wrong signature, end marker, short record and out-of-record sections, naming the offset', () => {
    const good = encodeCperRecord(
      fc.sample(
        recordArb.filter((r) => r.sections.length > 0),
        1,
      )[0],
    );
    const bad = (mutate: (b: Uint8Array, v: DataView) => void): FormatError => {
      const b = good.slice();
      mutate(b, new DataView(b.buffer));
      try {
        decodeCperRecord(b, { file: 'rec' });
      } catch (e) {
        if (e instanceof FormatError) return e;
      }
      throw new Error('expected a FormatError');
    };
    expect(bad((b) => (b[0] = 0x41)).offset).toBe(0);
    expect(bad((_b, v) => v.setUint32(6, 0, true)).offset).toBe(6);
    expect(bad((_b, v) => v.setUint32(20, good.length + 1, true)).offset).toBe(20);
    expect(bad((_b, v) => v.setUint32(128 + 4, good.length, true)).offset).toBe(128);
    expect(() => decodeCperRecord(good.subarray(0, 100))).toThrow(FormatError);
  });

  it('throws only FormatError on random and mutated input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (b) => onlyFormatErrors(() => decodeCperRecord(b))),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(recordArb, fc.array(fc.record({ at: fc.nat(), value: u8 }), { maxLength: 8 }), fc.nat(), (r, pokes, keep) => {
        const b = encodeCperRecord(r);
        for (const p of pokes) b[p.at % b.length] = p.value;
        onlyFormatErrors(() => decodeCperRecord(b.subarray(0, keep % (b.length + 1))));
        onlyFormatErrors(() => decodeCperRecord(b));
      }),
      { numRuns: 300 },
    );
  });
});
