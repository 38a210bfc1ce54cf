// Fuzzing what a transport reads back after the reset (issue 12): the persistent zone (with its
// error correction), the device tree and the handoff device tree, and the CPER record of the
// acpi-erst transport (the handoff record itself is core's: core's decoders.fuzz.test.ts). Arbitrary and mutated-valid inputs either decode or
// throw one of our typed errors, and what comes back is bounded by the input's size.
// A failure prints fast-check's seed and counterexample: add the input to the property's
// `examples` so it stays a regression case. FUZZ_RUNS scales every property (default 1).
import fc from 'fast-check';
import { EfikdumpError, decodeHandoffRecord, encodeHandoffRecord } from '@efikdump/core';
import { sampleHandoffRecord } from '@efikdump/core/testing';
import { encodeHandoffCper, handoffSectionOf } from './acpi-erst/handoff-cper.codec';
import { decodeFdt } from './fdt/fdt.codec';
import { decodeHandoffFdt, encodeHandoffFdt } from './fdt/handoff-fdt.codec';
import { decodeZone, encodeZone } from './reserved-memory/persistent-zone.codec';

const RUNS = (n: number) => Math.max(1, Math.round(n * Number(process.env.FUZZ_RUNS ?? 1)));

function footprint(x: unknown, seen = new Set<unknown>()): number {
  if (typeof x === 'string') return x.length;
  if (typeof x !== 'object' || x === null) return 8;
  if (seen.has(x)) return 0;
  seen.add(x);
  if (ArrayBuffer.isView(x)) return x.byteLength;
  if (x instanceof Map) return [...x].reduce((n, [k, v]) => n + footprint(k, seen) + footprint(v, seen), 0);
  if (Array.isArray(x)) return x.reduce((n: number, v) => n + 8 + footprint(v, seen), 0);
  return Object.entries(x).reduce((n, [k, v]) => n + k.length + footprint(v, seen), 0);
}

function typedAndBounded(size: number, decode: () => unknown, perByte = 32, fixed = 64 * 1024): void {
  let out: unknown;
  try {
    out = decode();
  } catch (e) {
    if (e instanceof EfikdumpError) return;
    throw e;
  }
  expect(footprint(out)).toBeLessThanOrEqual(perByte * size + fixed);
}

function mutated(valid: Uint8Array): fc.Arbitrary<Uint8Array> {
  const word = fc.constantFrom(0, 1, 0x7f, 0xff, 0x7fffffff, 0x80000000, 0xffffffff);
  return fc
    .tuple(
      fc.array(fc.tuple(fc.nat({ max: valid.length - 1 }), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      fc.array(fc.tuple(fc.nat({ max: (valid.length >> 2) - 1 }), word, fc.boolean()), { maxLength: 3 }),
      fc.option(fc.nat({ max: valid.length }), { nil: undefined }),
    )
    .map(([bytes, words, cut]) => {
      const b = Uint8Array.from(valid);
      const v = new DataView(b.buffer);
      for (const [pos, value] of bytes) b[pos] = value;
      // Words both byte orders: the FDT is big-endian, the rest little-endian.
      for (const [slot, value, big] of words) v.setUint32(slot * 4, value, !big);
      return cut === undefined ? b : b.subarray(0, cut);
    });
}

const inputs = (...valid: Uint8Array[]) => fc.oneof(fc.uint8Array({ maxLength: 4096 }), ...valid.map(mutated));

const record = sampleHandoffRecord();
const key = new Uint8Array(32).fill(7);
const encoded = encodeHandoffRecord(record, key);
const fdt = encodeHandoffFdt({ ...record, mac: encoded.subarray(96, 128) }, encoded);
const zone = encodeZone(encoded);
const cper = encodeHandoffCper(encoded, record.info.bootNonce, record.info.crashTimeUnix);

test('the samples are valid (mutations start from real records)', () => {
  expect(decodeHandoffRecord(encoded, 'record').reason).toBe(record.reason);
  expect(decodeHandoffFdt(fdt, 'fdt').record.info).toEqual(record.info);
  expect(decodeZone(zone, 'zone').data.subarray(0, encoded.length)).toEqual(encoded);
  expect(handoffSectionOf(cper, 'cper')).toEqual(encoded);
});

test('persistent zone (Reed-Solomon corrected)', () => {
  fc.assert(
    fc.property(inputs(zone), (b) => typedAndBounded(b.length, () => decodeZone(b, 'zone'))),
    { numRuns: RUNS(300) },
  );
});

test('device tree blob and the handoff device tree', () => {
  fc.assert(
    fc.property(inputs(fdt), (b) => {
      typedAndBounded(b.length, () => decodeFdt(b, 'fdt'));
      typedAndBounded(b.length, () => decodeHandoffFdt(b, 'fdt'));
    }),
    { numRuns: RUNS(500) },
  );
});

test('the CPER record of the acpi-erst transport', () => {
  fc.assert(
    fc.property(inputs(cper), (b) => typedAndBounded(b.length, () => handoffSectionOf(b, 'cper'))),
    { numRuns: RUNS(400) },
  );
});
