import fc from 'fast-check';
import { FormatError } from '../errors';
import {
  acpiByteSum,
  decodeBertBody,
  decodeErstBody,
  decodeGenericErrorStatusBlock,
  decodeRsdp,
  decodeSdt,
  decodeSpcrBody,
  decodeXsdtBody,
  encodeBertBody,
  encodeErstBody,
  encodeGenericErrorStatusBlock,
  encodeRsdp,
  encodeSdt,
  encodeSpcrBody,
  encodeXsdtBody,
  genericErrorBlockStatus,
  GENERIC_ERROR_DATA_REVISION,
  SDT_HEADER_SIZE,
  type ErstBody,
  type GenericErrorStatusBlock,
  type SdtTable,
} from './acpi';

const u8 = fc.nat({ max: 0xff });
const u16 = fc.nat({ max: 0xffff });
const u32 = fc.nat({ max: 0xffffffff });
const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const guidArb = fc.uuid().map((u) => u.toLowerCase());
const ascii = (min: number, max: number) =>
  fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: min, maxLength: max });

const tableArb: fc.Arbitrary<SdtTable> = fc.record({
  header: fc.record({
    signature: ascii(4, 4),
    revision: u8,
    oemId: ascii(0, 6),
    oemTableId: ascii(0, 8),
    oemRevision: u32,
    creatorId: ascii(4, 4),
    creatorRevision: u32,
  }),
  body: fc.uint8Array({ maxLength: 200 }),
});
const gasArb = fc.record({ spaceId: u8, bitWidth: u8, bitOffset: u8, accessSize: u8, address: u64 });
const erstArb: fc.Arbitrary<ErstBody> = fc.record({
  serializationHeaderSize: u32,
  entries: fc.array(fc.record({ action: u8, instruction: u8, flags: u8, register: gasArb, value: u64, mask: u64 }), { maxLength: 10 }),
});
const blockArb: fc.Arbitrary<GenericErrorStatusBlock> = fc
  .record({
    blockStatus: u32,
    errorSeverity: u32,
    rawData: fc.uint8Array({ maxLength: 40 }),
    entries: fc.array(
      fc.record({
        sectionType: guidArb,
        severity: u32,
        revision: fc.constantFrom(0x200, GENERIC_ERROR_DATA_REVISION),
        validationBits: u8,
        flags: u8,
        fruId: guidArb,
        fruText: ascii(0, 20),
        timestamp: u64,
        data: fc.uint8Array({ maxLength: 100 }),
      }),
      { maxLength: 4 },
    ),
  })
  .map((b) => ({ ...b, entries: b.entries.map((e) => (e.revision < GENERIC_ERROR_DATA_REVISION ? { ...e, timestamp: 0n } : e)) }));

function onlyFormatErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof FormatError)) throw e;
  }
}
const mutations = fc.array(fc.record({ at: fc.nat(), value: u8 }), { maxLength: 6 });
function mutate(b: Uint8Array, pokes: { at: number; value: number }[]): Uint8Array {
  const out = b.slice();
  if (out.length) for (const p of pokes) out[p.at % out.length] = p.value;
  return out;
}

describe('ACPI 6.5 §5.2.6 system description table header', () => {
  it('round-trips, with a checksum that makes every byte sum to 0', () => {
    fc.assert(
      fc.property(tableArb, (t) => {
        const bytes = encodeSdt(t);
        expect(acpiByteSum(bytes)).toBe(0);
        expect(new DataView(bytes.buffer).getUint32(4, true)).toBe(SDT_HEADER_SIZE + t.body.length);
        expect(decodeSdt(bytes)).toEqual(t);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects a table whose checksum is off by one, naming offset 9', () => {
    const bytes = encodeSdt({
      header: { signature: 'BERT', revision: 1, oemId: 'EFIKDP', oemTableId: 'T', oemRevision: 1, creatorId: 'EFKD', creatorRevision: 1 },
      body: new Uint8Array(12),
    });
    bytes[20] ^= 1;
    expect(() => decodeSdt(bytes, { file: 'bert.dat' })).toThrow(expect.objectContaining({ offset: 9, file: 'bert.dat' }));
    expect(() =>
      decodeSdt(
        encodeSdt({
          ...{
            header: { signature: 'ERST', revision: 1, oemId: '', oemTableId: '', oemRevision: 0, creatorId: 'EFKD', creatorRevision: 0 },
          },
          body: new Uint8Array(0),
        }),
        {},
        'BERT',
      ),
    ).toThrow(FormatError);
  });

  it('throws only FormatError on random and mutated tables', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), (b) => onlyFormatErrors(() => decodeSdt(b))),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(tableArb, mutations, fc.nat(), (t, m, keep) => {
        const b = mutate(encodeSdt(t), m);
        onlyFormatErrors(() => decodeSdt(b.subarray(0, keep % (b.length + 1))));
      }),
      { numRuns: 300 },
    );
  });
});

describe('ACPI 6.5 §5.2.5.3 RSDP', () => {
  const rsdpArb = fc.record({ oemId: ascii(0, 6), revision: fc.integer({ min: 2, max: 255 }), rsdtAddress: u32, xsdtAddress: u64 });
  it('round-trips with both checksums valid', () => {
    fc.assert(
      fc.property(rsdpArb, (r) => {
        const b = encodeRsdp(r);
        expect(acpiByteSum(b.subarray(0, 20))).toBe(0);
        expect(acpiByteSum(b)).toBe(0);
        expect(decodeRsdp(b)).toEqual(r);
      }),
    );
  });
  it('throws only FormatError on random and mutated input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 60 }), (b) => onlyFormatErrors(() => decodeRsdp(b))),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(rsdpArb, mutations, (r, m) => onlyFormatErrors(() => decodeRsdp(mutate(encodeRsdp(r), m)))),
      { numRuns: 300 },
    );
  });
});

describe('ACPI 6.5 §5.2.8 XSDT, §18.3.1 BERT, §18.5 ERST, SPCR bodies', () => {
  it('round-trip', () => {
    fc.assert(fc.property(fc.array(u64, { maxLength: 20 }), (e) => expect(decodeXsdtBody(encodeXsdtBody(e))).toEqual(e)));
    fc.assert(
      fc.property(fc.record({ regionLength: u32, regionAddress: u64 }), (b) => expect(decodeBertBody(encodeBertBody(b))).toEqual(b)),
    );
    fc.assert(fc.property(erstArb, (b) => expect(decodeErstBody(encodeErstBody(b))).toEqual(b)));
    fc.assert(
      fc.property(
        fc.record({
          interfaceType: u8,
          baseAddress: gasArb,
          interruptType: u8,
          irq: u8,
          globalSystemInterrupt: u32,
          baudRate: u8,
          parity: u8,
          stopBits: u8,
          flowControl: u8,
          terminalType: u8,
          pciDeviceId: u16,
          pciVendorId: u16,
        }),
        (s) => expect(decodeSpcrBody(encodeSpcrBody(s))).toEqual(s),
      ),
    );
  });
  it('lays out ERST entries at 48 + 32 n with the GAS at +4', () => {
    const body = encodeErstBody({
      serializationHeaderSize: 48,
      entries: [
        {
          action: 5,
          instruction: 3,
          flags: 0,
          register: { spaceId: 0, bitWidth: 64, bitOffset: 0, accessSize: 4, address: 0x1234n },
          value: 0x9cn,
          mask: 0xffn,
        },
      ],
    });
    const v = new DataView(body.buffer);
    expect(v.getUint32(8, true)).toBe(1);
    expect(body[12]).toBe(5);
    expect(v.getBigUint64(12 + 8, true)).toBe(0x1234n);
    expect(v.getBigUint64(12 + 16, true)).toBe(0x9cn);
  });
  it('throws only FormatError on random bodies', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        onlyFormatErrors(() => decodeXsdtBody(b));
        onlyFormatErrors(() => decodeBertBody(b));
        onlyFormatErrors(() => decodeErstBody(b));
        onlyFormatErrors(() => decodeSpcrBody(b));
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(erstArb, mutations, (e, m) => onlyFormatErrors(() => decodeErstBody(mutate(encodeErstBody(e), m)))),
      { numRuns: 300 },
    );
  });
});

describe('ACPI 6.5 §18.3.2.7 Generic Error Status Block', () => {
  it('round-trips, entries of both revisions', () => {
    fc.assert(
      fc.property(blockArb, (b) => expect(decodeGenericErrorStatusBlock(encodeGenericErrorStatusBlock(b))).toEqual(b)),
      { numRuns: 300 },
    );
  });
  it('counts entries in BlockStatus bits 4-13', () => {
    const e = { severity: 1 };
    expect(genericErrorBlockStatus([e, e, { severity: 2 }])).toBe(0x1 | 0x2 | 0x4 | (3 << 4));
    expect(genericErrorBlockStatus([])).toBe(0);
  });
  it('throws only FormatError on random and mutated blocks', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => onlyFormatErrors(() => decodeGenericErrorStatusBlock(b))),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(blockArb, mutations, (b, m) =>
        onlyFormatErrors(() => decodeGenericErrorStatusBlock(mutate(encodeGenericErrorStatusBlock(b), m))),
      ),
      { numRuns: 300 },
    );
  });
});
