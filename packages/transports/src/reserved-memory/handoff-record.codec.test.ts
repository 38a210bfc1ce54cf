import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { FormatError, MiB, PAGE_SIZE, type HandoffInfo } from '@efikdump/core';
import {
  decodeHandoffRecord,
  encodeHandoffRecord,
  FLAG_ARMED,
  FLAG_CRASHED,
  RECORD_HEADER_BYTES,
  RECORD_MAGIC,
  RECORD_MAX_BYTES,
  RECORD_MAX_RANGES,
  RECORD_VERSION,
  type HandoffRecord,
} from './handoff-record.codec';

const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

// ---- arbitraries ----

/** A page-aligned range whose end stays below 2^53. */
const pageRange = fc
  .tuple(fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 1, max: 2 ** 30 }))
  .map(([pfn, pages]) => ({ start: pfn * PAGE_SIZE, end: (pfn + pages) * PAGE_SIZE }));

const handoffInfo: fc.Arbitrary<HandoffInfo> = fc.record({
  version: fc.constant(RECORD_VERSION),
  bootNonce: fc.stringMatching(/^[0-9a-f]{16}$/),
  crashkernel: fc.array(pageRange, { minLength: 1, maxLength: RECORD_MAX_RANGES }),
  elfcorehdr: fc.record({
    paddr: fc.maxSafeNat(),
    size: fc.maxSafeNat(),
    sha256: fc.uint8Array({ minLength: 32, maxLength: 32 }).map(toHex),
  }),
  crashTimeUnix: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2 ** 31 }), fc.maxSafeNat()),
  cpus: fc.integer({ min: 1, max: 8192 }),
});

const handoffRecord: fc.Arbitrary<HandoffRecord> = fc.record({
  flags: fc.oneof(fc.constantFrom(0, FLAG_ARMED, FLAG_ARMED | FLAG_CRASHED), fc.integer({ min: 0, max: 0xffffffff })),
  info: handoffInfo,
});

/** A fixed, realistic record with `ranges` crashkernel ranges. */
function sampleRecord(ranges: number): HandoffRecord {
  return {
    flags: FLAG_ARMED | FLAG_CRASHED,
    info: {
      version: RECORD_VERSION,
      bootNonce: '9e3779b97f4a7c15',
      crashkernel: Array.from({ length: ranges }, (_, i) => ({ start: (128 + 256 * i) * MiB, end: (224 + 256 * i) * MiB })),
      elfcorehdr: { paddr: 224 * MiB - PAGE_SIZE, size: 64 + 56 * 7, sha256: 'c0ffee'.padEnd(64, '5a') },
      crashTimeUnix: 1767225690,
      cpus: 4,
    },
  };
}

/** Decodes and returns the FormatError it must throw. */
function formatError(buf: Uint8Array, source = 'test', base = 0): FormatError {
  try {
    decodeHandoffRecord(buf, source, base);
  } catch (e) {
    if (e instanceof FormatError) return e;
    throw e;
  }
  throw new Error('expected decodeHandoffRecord to throw a FormatError');
}

const u32 = (buf: Uint8Array, off: number): number => new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getUint32(off, true);

/** Sets a u32 field and recomputes the CRC, so that only the field checks can reject the record. */
function withField(record: Uint8Array, off: number, value: number): Uint8Array {
  const out = record.slice();
  const v = new DataView(out.buffer);
  v.setUint32(off, value, true);
  v.setUint32(16, 0, true);
  v.setUint32(16, crc32(out.subarray(0, RECORD_HEADER_BYTES + 16)), true);
  return out;
}

describe('handoff record codec: round trip', () => {
  it('decode(encode(x)) == x for any valid record', () => {
    fc.assert(
      fc.property(handoffRecord, (record) => {
        const bytes = encodeHandoffRecord(record);
        expect(bytes.length).toBe(RECORD_HEADER_BYTES + 16 * record.info.crashkernel.length);
        expect(decodeHandoffRecord(bytes, 'test')).toEqual(record);
      }),
      { numRuns: 500 },
    );
  });

  it('decodes the same record from a slot-sized buffer with garbage after it, at any base address', () => {
    fc.assert(
      fc.property(handoffRecord, fc.uint8Array({ minLength: RECORD_MAX_BYTES, maxLength: RECORD_MAX_BYTES }), fc.maxSafeNat(), (record, garbage, base) => {
        const slot = garbage.slice();
        slot.set(encodeHandoffRecord(record), 0);
        expect(decodeHandoffRecord(slot, 'slot', base)).toEqual(record);
        // ... and from a view that does not start at its buffer's first byte.
        const shifted = new Uint8Array(slot.length + 13);
        shifted.set(slot, 13);
        expect(decodeHandoffRecord(shifted.subarray(13), 'slot', base)).toEqual(record);
      }),
      { numRuns: 200 },
    );
  });

  it('lays the header out as documented', () => {
    const record = sampleRecord(2);
    const bytes = encodeHandoffRecord(record);
    const v = new DataView(bytes.buffer);
    expect(Buffer.from(bytes.subarray(0, 8)).toString('latin1')).toBe(RECORD_MAGIC);
    expect(v.getUint16(8, true)).toBe(RECORD_VERSION);
    expect(v.getUint16(10, true)).toBe(RECORD_HEADER_BYTES);
    expect(v.getUint32(12, true)).toBe(RECORD_HEADER_BYTES + 32);
    expect(v.getUint32(20, true)).toBe(4);
    expect(v.getBigUint64(24, true)).toBe(0x9e3779b97f4a7c15n);
    expect(v.getBigInt64(32, true)).toBe(1767225690n);
    expect(v.getBigUint64(40, true)).toBe(BigInt(224 * MiB - PAGE_SIZE));
    expect(v.getUint32(56, true)).toBe(2);
    expect(v.getUint32(60, true)).toBe(FLAG_ARMED | FLAG_CRASHED);
    expect(toHex(bytes.subarray(64, 96))).toBe(record.info.elfcorehdr.sha256);
    expect(v.getBigUint64(96 + 16, true)).toBe(BigInt(384 * MiB));
    // CRC-32 of the record with the CRC field zero.
    const zeroed = bytes.slice();
    new DataView(zeroed.buffer).setUint32(16, 0, true);
    expect(v.getUint32(16, true)).toBe(crc32(zeroed));
  });

  it('refuses to encode 0 or more than 16 ranges', () => {
    const none = sampleRecord(1);
    none.info.crashkernel = [];
    expect(() => encodeHandoffRecord(none)).toThrow(FormatError);
    expect(() => encodeHandoffRecord(sampleRecord(RECORD_MAX_RANGES + 1))).toThrow(FormatError);
    expect(() => encodeHandoffRecord(sampleRecord(RECORD_MAX_RANGES))).not.toThrow();
  });
});

describe('handoff record codec: every single-bit error is rejected', () => {
  /**
   * Offset (relative to the record) that the error for a flip in byte `i` must name: the field
   * checked before the CRC when the flip lands in one, else the CRC field. A flipped range count
   * that is still 1..16 is caught by the length check.
   */
  function expectedOffset(i: number, mutated: Uint8Array): number {
    if (i < 8) return 0;
    if (i < 10) return 8;
    if (i < 12) return 10;
    if (i < 16) return 12;
    if (i >= 56 && i < 60) {
      const count = u32(mutated, 56);
      return count >= 1 && count <= RECORD_MAX_RANGES ? 12 : 56;
    }
    return 16;
  }

  it.each([1, 2, 7, RECORD_MAX_RANGES])('all 8 bits of every byte of a %i-range record, alone and inside a slot', (ranges) => {
    const record = encodeHandoffRecord(sampleRecord(ranges));
    const base = 0x8000000;
    const slot = new Uint8Array(RECORD_MAX_BYTES).fill(0xa5);
    let checked = 0;
    for (let i = 0; i < record.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const mutated = record.slice();
        mutated[i] ^= 1 << bit;
        const want = expectedOffset(i, mutated);

        const alone = formatError(mutated, 'record.bin', base);
        expect(alone.offset).toBe(base + want);
        expect(alone.file).toBe('record.bin');
        expect(alone.describe()).toMatch(new RegExp(`^record\\.bin:0x${(base + want).toString(16)}: handoff record`));

        slot.set(mutated, 0);
        const inSlot = formatError(slot, 'slot', base);
        expect(inSlot.offset).toBe(base + want);
        checked++;
      }
    }
    expect(checked).toBe(record.length * 8);
  });

  it('rejects a record cut short by any number of bytes', () => {
    const record = encodeHandoffRecord(sampleRecord(3));
    for (let n = 0; n < record.length; n++) {
      const err = formatError(record.subarray(0, n));
      expect(err.offset).toBe(n < RECORD_HEADER_BYTES ? 0 : 12);
    }
  });
});

describe('handoff record codec: hostile input', () => {
  it('random bytes of any length give FormatError and nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2 * RECORD_MAX_BYTES }), (bytes) => {
        formatError(bytes);
      }),
      { numRuns: 1000 },
    );
  });

  it('random bytes behind a valid magic, version and header size give FormatError and nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: RECORD_HEADER_BYTES, maxLength: 2 * RECORD_MAX_BYTES }), (bytes) => {
        const buf = bytes.slice();
        buf.set(encodeHandoffRecord(sampleRecord(1)).subarray(0, 12), 0);
        formatError(buf);
      }),
      { numRuns: 1000 },
    );
  });

  it('random fields under a correct CRC decode or give FormatError, never another error', () => {
    // u64 fields mostly below 2^53 (so that some records decode), sometimes anything.
    const u64 = fc.oneof(
      { weight: 9, arbitrary: fc.bigInt({ min: 0n, max: 2n ** 53n - 1n }) },
      { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) },
    );
    const arb = fc.record({
      bytes: fc.uint8Array({ minLength: RECORD_MAX_BYTES, maxLength: RECORD_MAX_BYTES }),
      count: fc.oneof(
        { weight: 4, arbitrary: fc.integer({ min: 1, max: RECORD_MAX_RANGES }) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffffffff }) },
      ),
      fields: fc.array(u64, { minLength: 2 + 2 * RECORD_MAX_RANGES, maxLength: 2 + 2 * RECORD_MAX_RANGES }),
    });
    let decoded = 0;
    let rejected = 0;
    fc.assert(
      fc.property(arb, ({ bytes, count, fields }) => {
        const buf = bytes.slice();
        buf.set(encodeHandoffRecord(sampleRecord(1)).subarray(0, 12), 0);
        const v = new DataView(buf.buffer);
        v.setBigUint64(40, fields[0], true);
        v.setBigUint64(48, fields[1], true);
        for (let i = 0; i < 2 * RECORD_MAX_RANGES; i++) v.setBigUint64(RECORD_HEADER_BYTES + 8 * i, fields[2 + i], true);
        v.setUint32(56, count, true);
        const length = count >= 1 && count <= RECORD_MAX_RANGES ? RECORD_HEADER_BYTES + 16 * count : RECORD_HEADER_BYTES;
        v.setUint32(12, length, true);
        v.setUint32(16, 0, true);
        v.setUint32(16, crc32(buf.subarray(0, length)), true);
        let record: HandoffRecord;
        try {
          record = decodeHandoffRecord(buf, 'random');
        } catch (e) {
          expect(e).toBeInstanceOf(FormatError);
          rejected++;
          return;
        }
        decoded++;
        expect(record.info.crashkernel).toHaveLength(count);
        for (const r of record.info.crashkernel) {
          expect(Number.isSafeInteger(r.start) && Number.isSafeInteger(r.end) && r.end > r.start).toBe(true);
        }
        expect(Number.isSafeInteger(record.info.elfcorehdr.paddr)).toBe(true);
        expect(Number.isSafeInteger(record.info.elfcorehdr.size)).toBe(true);
        expect(record.info.bootNonce).toMatch(/^[0-9a-f]{16}$/);
        expect(record.info.elfcorehdr.sha256).toMatch(/^[0-9a-f]{64}$/);
        // What decodes re-encodes to the same bytes, but for the CRC and the crash time
        // (a negative or above-2^53 crash time decodes as 0).
        const strip = (bytes: Uint8Array): string => {
          const c = bytes.slice();
          c.fill(0, 16, 20);
          c.fill(0, 32, 40);
          return toHex(c);
        };
        expect(strip(encodeHandoffRecord(record))).toBe(strip(buf.subarray(0, length)));
      }),
      { numRuns: 1000 },
    );
    expect(decoded).toBeGreaterThan(0);
    expect(rejected).toBeGreaterThan(0);
  });

  describe('a header claiming a huge range count or length fails before anything is allocated', () => {
    // The decoder's one copy is of buf.subarray(0, length); it must never be asked for more than the buffer.
    let subarray: jest.SpyInstance;
    beforeEach(() => {
      subarray = jest.spyOn(Uint8Array.prototype, 'subarray');
    });
    afterEach(() => subarray.mockRestore());
    const copies = () => subarray.mock.calls.filter((c) => c[0] === 0 && c[1] !== 8);

    const valid = (): Uint8Array => {
      const slot = new Uint8Array(RECORD_MAX_BYTES);
      slot.set(encodeHandoffRecord(sampleRecord(1)), 0);
      return slot;
    };

    it('(the spy sees the one copy a valid record costs)', () => {
      decodeHandoffRecord(valid(), 'slot');
      expect(copies()).toEqual([[0, RECORD_HEADER_BYTES + 16]]);
    });

    it.each([
      ['range count 0xffffffff', { count: 0xffffffff }, 56],
      ['range count 0x10000000 with the length it has modulo 2^32 (96)', { count: 0x10000000, length: RECORD_HEADER_BYTES }, 56],
      ['range count 0', { count: 0 }, 56],
      ['length 0xffffffff', { length: 0xffffffff }, 12],
      ['length 0xffffffff and range count 0xffffffff', { count: 0xffffffff, length: 0xffffffff }, 56],
      ['16 ranges in a 200-byte buffer', { count: 16, length: RECORD_HEADER_BYTES + 256, bufferBytes: 200 }, 12],
    ] as const)('%s', (_, fields, offset) => {
      let buf = valid();
      if ('count' in fields) buf = withField(buf, 56, fields.count);
      if ('length' in fields) buf = withField(buf, 12, fields.length);
      if ('bufferBytes' in fields) buf = buf.subarray(0, fields.bufferBytes);
      subarray.mockClear();
      const before = process.memoryUsage().arrayBuffers;
      const err = formatError(buf, 'slot', 0x1000);
      expect(err.offset).toBe(0x1000 + offset);
      expect(copies()).toEqual([]);
      expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1 * MiB);
    });
  });
});
