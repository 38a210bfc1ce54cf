// Fuzzing what firmware-uefi reads from outside (issue 12): the EFI variable store volume (`.fd`,
// ours and OVMF's own), efivarfs files, authenticated-variable headers, ResetData, the memory map
// and retention profiles (JSON). Arbitrary and mutated-valid inputs either decode or throw one of
// our typed errors, and what comes back is bounded by the input's size.
// A failure prints fast-check's seed and counterexample: add the input to the property's
// `examples` so it stays a regression case. FUZZ_RUNS scales every property (default 1).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { EfikdumpError, parseJsonText } from '@efikdump/core';
import { buildMemoryMap } from './memory-map/platform-memory-map';
import { decodeMemoryMap, encodeMemoryMap } from './memory-map/memory-map.codec';
import { parseRetentionProfile } from './probe/retention-profile';
import { decodeResetData, encodeResetData } from './reset/reset-data.codec';
import { decodeEfivarfsFile, encodeEfivarfsFile } from './variables/efivarfs';
import { encodeTimeBasedAuthentication, parseTimeBasedAuthentication } from './variables/variable-auth';
import { decodeVariableStoreFv, encodeVariableStoreFv } from './variables/variable-store-fv.codec';
import { VAR_ADDED } from './variables/well-known';

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

function mutated(valid: Uint8Array, hot = valid.length): fc.Arbitrary<Uint8Array> {
  const word = fc.constantFrom(0, 1, 0x3f, 0x7fffffff, 0x80000000, 0xffffffff);
  return fc
    .tuple(
      fc.array(fc.tuple(fc.nat({ max: hot - 1 }), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      fc.array(fc.tuple(fc.nat({ max: (hot >> 2) - 1 }), word), { maxLength: 3 }),
      fc.option(fc.nat({ max: valid.length }), { nil: undefined }),
    )
    .map(([bytes, words, cut]) => {
      const b = Uint8Array.from(valid);
      const v = new DataView(b.buffer);
      for (const [pos, value] of bytes) b[pos] = value;
      for (const [slot, value] of words) v.setUint32(slot * 4, value, true);
      return cut === undefined ? b : b.subarray(0, cut);
    });
}

describe('EFI variable store volume (.fd)', () => {
  // OVMF's own VARS image when the ovmf package is installed; the variable store is its first 528 KiB at most.
  const ovmf = ['/usr/share/OVMF/OVMF_VARS_4M.fd', '/usr/share/OVMF/OVMF_VARS.fd'].find((f) => existsSync(f));
  (ovmf ? test : test.skip)('mutations of OVMF_VARS.fd (volume and store headers) fail with our errors', () => {
    const real = new Uint8Array(readFileSync(ovmf!));
    expect(decodeVariableStoreFv(real).format).toBeDefined();
    fc.assert(
      fc.property(mutated(real, 0x100), (b) => typedAndBounded(b.length, () => decodeVariableStoreFv(b, 'vars.fd'))),
      { numRuns: RUNS(100) },
    );
  });
  test('mutations of a store with variables (headers, records, names, data sizes) fail with our errors', () => {
    const rec = (name: string, n: number) => ({
      name,
      guid: '8be4df61-93ca-11d2-aa0d-00e098032b8c',
      attributes: 7,
      data: new Uint8Array(n).fill(1),
      state: VAR_ADDED,
    });
    const ours = encodeVariableStoreFv({
      format: 'plain',
      nvramBytes: 0xe000,
      blockBytes: 4096,
      records: [rec('BootOrder', 4), rec('EfikdumpHandoff0000', 300), rec('Lang', 3)],
    });
    expect(decodeVariableStoreFv(ours).records).toHaveLength(3);
    fc.assert(
      fc.property(mutated(ours, 0x300), (b) => typedAndBounded(b.length, () => decodeVariableStoreFv(b, 'vars.fd'))),
      { numRuns: RUNS(150) },
    );
  });
  test('arbitrary bytes fail with our errors', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), (b) => typedAndBounded(b.length, () => decodeVariableStoreFv(b, 'vars.fd'))),
      { numRuns: RUNS(300) },
    );
  });
});

describe('efivarfs files, authentication headers, ResetData, the memory map', () => {
  const variable = encodeEfivarfsFile({
    name: 'BootOrder',
    guid: '8be4df61-93ca-11d2-aa0d-00e098032b8c',
    attributes: 7,
    data: Uint8Array.of(0, 0, 1, 0),
  });
  const auth = encodeTimeBasedAuthentication({ year: 2026, month: 1, day: 2 }, new Uint8Array(64).fill(3), Uint8Array.of(1, 2, 3));
  const reset = encodeResetData({ reason: 'efikdump crash 00000000cafef00d', guid: 'cfc8fc79-be2e-4ddc-97f0-9f98bfe298a0' });
  const map = encodeMemoryMap(buildMemoryMap(1024 * 1024 * 1024));

  test('the samples are valid (mutations start from real inputs)', () => {
    expect(decodeEfivarfsFile('BootOrder-8be4df61-93ca-11d2-aa0d-00e098032b8c', variable).data.length).toBe(4);
    expect(parseTimeBasedAuthentication(auth)).toBeDefined();
    expect(decodeResetData(reset, true).guid).toBe('cfc8fc79-be2e-4ddc-97f0-9f98bfe298a0');
    expect(decodeMemoryMap(map).length).toBeGreaterThan(3);
  });

  test('each decoder, on arbitrary and mutated inputs', () => {
    const name = fc.constantFrom(
      'BootOrder-8be4df61-93ca-11d2-aa0d-00e098032b8c',
      'x',
      '-',
      'Name-not-a-guid',
      'A-8BE4DF61-93CA-11D2-AA0D-00E098032B8C',
    );
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 600 }), mutated(variable), mutated(auth), mutated(reset), mutated(map)),
        name,
        fc.boolean(),
        (b, fileName, platform) => {
          typedAndBounded(b.length, () => decodeEfivarfsFile(fileName, b));
          typedAndBounded(b.length, () => parseTimeBasedAuthentication(b));
          typedAndBounded(b.length, () => decodeResetData(b, platform));
          typedAndBounded(b.length, () => decodeMemoryMap(b));
        },
      ),
      { numRuns: RUNS(400) },
    );
  });
});

describe('retention profiles (JSON)', () => {
  const dir = join(__dirname, '../profiles/measured');
  // Retention profiles only: the loader-entry moment file (efikdump-retention-moment/1) has its own reader.
  const texts = readdirSync(dir)
    .filter((f) => f.endsWith('.json') && !JSON.parse(readFileSync(join(dir, f), 'utf8')).format.startsWith('efikdump-retention-moment/'))
    .map((f) => readFileSync(join(dir, f), 'utf8'));

  test('the committed profiles parse', () => {
    for (const t of texts) expect(() => parseRetentionProfile(JSON.parse(t), 'p.json')).not.toThrow();
  });

  test('profiles with a value replaced, and arbitrary JSON, fail with our errors', () => {
    const docs = texts.map((t) => JSON.parse(t) as Record<string, unknown>);
    const replaced = fc.tuple(fc.constantFrom(...docs), fc.nat(), fc.jsonValue({ maxDepth: 3 })).map(([doc, k, value]) => {
      const keys = Object.keys(doc);
      return { ...doc, [keys[k % keys.length]]: value };
    });
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue({ maxDepth: 4 }), replaced), (doc) => {
        typedAndBounded(JSON.stringify(doc)?.length ?? 4, () => parseRetentionProfile(doc, 'p.json'));
      }),
      { numRuns: RUNS(300) },
    );
  });

  test('texts with one character changed fail with our errors', () => {
    fc.assert(
      fc.property(fc.constantFrom(...texts), fc.nat(), fc.constantFrom('', '"', '}', ']', '-', '1e400', 'x'), (t, pos, s) => {
        const at = pos % t.length;
        const text = t.slice(0, at) + s + t.slice(at + 1);
        typedAndBounded(text.length, () => parseRetentionProfile(parseJsonText(text, 'p.json'), 'p.json'));
      }),
      { numRuns: RUNS(200) },
    );
  });
});
