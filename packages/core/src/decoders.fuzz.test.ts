// Fuzzing every core decoder of outside data (issue 12): arbitrary and mutated-valid inputs either
// decode or throw one of our typed errors; never a TypeError/RangeError, never a hang, and what a
// decoder returns is bounded by its input's size (a header claiming a huge count allocates nothing).
// A failure prints fast-check's seed and counterexample: add the input to the property's
// `examples` so it stays a regression case. FUZZ_RUNS scales every property (default 1).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { parseDesign, parseFirmwareProfile, parseJsonText, parseScenario } from './config';
import { EfikdumpError } from './errors';
import {
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
} from './formats/acpi';
import { CPER_GUIDS, decodeCperRecord, encodeCperRecord } from './formats/cper';
import {
  decodeElfHeader,
  decodePrStatus,
  decodeProgramHeaders,
  EM_X86_64,
  encodeElfHeader,
  encodeNote,
  encodePrStatus,
  ET_CORE,
  parseVmcoreinfo,
  decodeAscii,
  walkNotes,
} from './formats/elf';
import { decodeLostRanges, encodeLostRanges } from './formats/lost-ranges';
import { decodeHandoffRecord, encodeHandoffRecord } from './handoff/record';
import { validateTruth } from './truth';
import { sampleHandoffRecord } from './test-kit';

const RUNS = (n: number) => Math.max(1, Math.round(n * Number(process.env.FUZZ_RUNS ?? 1)));

/** Bytes (or string units) held by `x`: typed arrays, strings, and 8 per number, key and element. */
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

/**
 * `decode` either throws an EfikdumpError or returns something no larger than `perByte` times the
 * input plus `fixed` bytes.
 */
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

/** `valid` with a few bytes replaced, interesting little-endian words written at aligned offsets, and maybe truncated. */
function mutated(valid: Uint8Array): fc.Arbitrary<Uint8Array> {
  const word = fc.constantFrom(0, 1, 0x7f, 0x80, 0xff, 0x7fffffff, 0x80000000, 0xffffffff);
  return fc
    .tuple(
      fc.array(fc.tuple(fc.nat({ max: Math.max(0, valid.length - 1) }), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      fc.array(fc.tuple(fc.nat({ max: Math.max(0, (valid.length >> 2) - 1) }), word, fc.boolean()), { maxLength: 3 }),
      fc.option(fc.nat({ max: valid.length }), { nil: undefined }),
    )
    .map(([bytes, words, cut]) => {
      const b = Uint8Array.from(valid);
      const v = new DataView(b.buffer);
      for (const [pos, value] of bytes) if (pos < b.length) b[pos] = value;
      for (const [slot, value, high] of words) {
        const at = slot * 4;
        if (at + 4 <= b.length) v.setUint32(at, value, true);
        if (high && at + 8 <= b.length) v.setUint32(at + 4, value, true);
      }
      return cut === undefined ? b : b.subarray(0, cut);
    });
}

/** Arbitrary bytes, and mutations of each valid sample. */
const inputs = (...valid: Uint8Array[]) => fc.oneof(fc.uint8Array({ maxLength: 1024 }), ...valid.map(mutated));

const header = {
  signature: 'BERT',
  revision: 1,
  oemId: 'EFIKDP',
  oemTableId: 'EFIKDUMP',
  oemRevision: 1,
  creatorId: 'EFKD',
  creatorRevision: 1,
};
const gas = { spaceId: 0, bitWidth: 64, bitOffset: 0, accessSize: 4, address: 0xfed40000n };
const cper = encodeCperRecord({
  revision: 0x0101,
  severity: 1,
  validationBits: 2,
  timestamp: 1767225600n,
  platformId: CPER_GUIDS.notifyMce,
  partitionId: CPER_GUIDS.notifyBoot,
  creatorId: CPER_GUIDS.creatorLinuxPstore,
  notificationType: CPER_GUIDS.notifyMce,
  recordId: 7n,
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
      body: new TextEncoder().encode('Kernel panic'),
    },
  ],
});

describe('ELF (headers, notes, NT_PRSTATUS, VMCOREINFO)', () => {
  const ehdr = encodeElfHeader({ type: ET_CORE, machine: EM_X86_64, phoff: 64, phnum: 3, flags: 0 });
  const notes = Uint8Array.from([
    ...encodeNote('CORE', 1, encodePrStatus({ pid: 1, regs: Array.from({ length: 27 }, (_, i) => BigInt(i)) })),
    ...encodeNote('VMCOREINFO', 0, new TextEncoder().encode('OSRELEASE=6.1.0\nPAGESIZE=4096\n')),
  ]);
  test('the samples are valid (mutations start from real inputs)', () => {
    expect(decodeElfHeader(ehdr).phnum).toBe(3);
    expect(walkNotes(notes).notes.map((n) => n.name)).toEqual(['CORE', 'VMCOREINFO']);
    expect(decodeCperRecord(cper).sections).toHaveLength(1);
  });
  test('the ELF header and its program header table', () => {
    fc.assert(
      fc.property(inputs(ehdr, Uint8Array.from([...ehdr, ...new Uint8Array(3 * 56)])), (b) => {
        typedAndBounded(b.length, () => {
          const h = decodeElfHeader(b);
          return decodeProgramHeaders(b, h);
        });
      }),
      { numRuns: RUNS(400) },
    );
  });
  test('notes, prstatus and vmcoreinfo', () => {
    fc.assert(
      fc.property(inputs(notes), (b) => {
        typedAndBounded(b.length, () => {
          const { notes: all } = walkNotes(b);
          return all.map((n) => (n.name === 'CORE' ? decodePrStatus(n.desc) : parseVmcoreinfo(decodeAscii(n.desc))));
        });
      }),
      { numRuns: RUNS(400) },
    );
  });
});

describe('the lost-ranges note (EFIKDUMP/LOST)', () => {
  test('a count claiming more entries than the note holds allocates nothing', () => {
    const valid = encodeLostRanges([
      { start: 0x100000, end: 0x200000, reason: 'firmware-footprint' },
      { start: 0x300000, end: 0x301000, reason: 'dma' },
    ]);
    fc.assert(
      fc.property(inputs(valid), (b) => typedAndBounded(b.length, () => decodeLostRanges(b))),
      {
        numRuns: RUNS(400),
        // Regression: a header alone claiming 2^32-1 entries.
        examples: [[Uint8Array.of(1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff)]],
      },
    );
  });
});

describe('the handoff record (moved from the transports fuzz tests)', () => {
  const record = sampleHandoffRecord();
  const encoded = encodeHandoffRecord(record, new Uint8Array(32).fill(7));

  test('the sample is valid (mutations start from a real record)', () => {
    expect(decodeHandoffRecord(encoded, 'record').reason).toBe(record.reason);
  });

  test('handoff record', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 4096 }), mutated(encoded)), (b) =>
        typedAndBounded(b.length, () => decodeHandoffRecord(b, 'record')),
      ),
      { numRuns: RUNS(500) },
    );
  });
});

describe('CPER, and the ACPI tables BERT/ERST carry', () => {
  test('CPER records', () => {
    fc.assert(
      fc.property(inputs(cper), (b) => typedAndBounded(b.length, () => decodeCperRecord(b))),
      { numRuns: RUNS(400) },
    );
  });
  test('SDT header, RSDP, XSDT, BERT, ERST, SPCR bodies and the generic error status block', () => {
    const samples = [
      encodeSdt({ header, body: encodeBertBody({ regionLength: 4096, regionAddress: 0x7f000000n }) }),
      encodeRsdp({ oemId: 'EFIKDP', revision: 2, rsdtAddress: 0, xsdtAddress: 0x7fff0000n }),
      encodeXsdtBody([0x7fff1000n, 0x7fff2000n]),
      encodeErstBody({
        serializationHeaderSize: 48,
        entries: [{ action: 5, instruction: 3, flags: 0, register: gas, value: 0x9cn, mask: 0xffn }],
      }),
      encodeSpcrBody({
        interfaceType: 0,
        baseAddress: gas,
        interruptType: 1,
        irq: 4,
        globalSystemInterrupt: 4,
        baudRate: 7,
        parity: 0,
        stopBits: 1,
        flowControl: 0,
        terminalType: 0,
        pciDeviceId: 0xffff,
        pciVendorId: 0xffff,
      }),
      encodeGenericErrorStatusBlock({ blockStatus: 0x11, errorSeverity: 1, rawData: Uint8Array.of(1, 2, 3), entries: [] }),
    ];
    const decoders = [decodeSdt, decodeRsdp, decodeXsdtBody, decodeErstBody, decodeSpcrBody, decodeGenericErrorStatusBlock];
    samples.forEach((b, i) => expect(() => decoders[i](b)).not.toThrow());
    fc.assert(
      fc.property(inputs(...samples), (b) => {
        for (const decode of [
          decodeSdt,
          decodeRsdp,
          decodeXsdtBody,
          decodeBertBody,
          decodeErstBody,
          decodeSpcrBody,
          decodeGenericErrorStatusBlock,
        ]) {
          typedAndBounded(b.length, () => decode(b));
        }
      }),
      { numRuns: RUNS(300) },
    );
  });
});

describe('JSON documents: design, scenario, firmware profile, truth', () => {
  const repo = join(__dirname, '../../..');
  const files = (dir: string) =>
    readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => readFileSync(join(dir, f), 'utf8'));
  const designs = files(join(repo, 'apps/cli/designs'));
  const scenarios = files(join(repo, 'apps/cli/scenarios'));
  const profiles = files(join(repo, 'packages/firmware-uefi/profiles'));
  const truth = JSON.stringify({
    format: 'efikdump-truth/1',
    pageSize: 4096,
    pages: [{ paddr: 4096, sha256: 'ab'.repeat(32) }],
    zeroPages: [8192],
    excluded: [[0x1000000, 0x9000000]],
  });
  const parsers: [string, (doc: unknown) => unknown][] = [
    ['design', (d) => parseDesign(d, 'd.json')],
    ['scenario', (d) => parseScenario(d, 's.json')],
    ['firmware profile', (d) => parseFirmwareProfile(d, 'p.json')],
    ['truth', (d) => validateTruth(d, 't.json')],
  ];

  /** A valid text with one character replaced, inserted or deleted. */
  const textMutation = (texts: string[]) =>
    fc
      .tuple(
        fc.constantFrom(...texts),
        fc.nat(),
        fc.constantFrom('delete', 'insert', 'replace'),
        fc.constantFrom('"', '{', '}', '[', ']', ',', ':', '0', '-1', '1e999', 'null', 'x', '9007199254740993'),
      )
      .map(([t, pos, op, s]) => {
        const at = pos % (t.length + 1);
        return op === 'delete'
          ? t.slice(0, at) + t.slice(at + 1)
          : op === 'insert'
            ? t.slice(0, at) + s + t.slice(at)
            : t.slice(0, at) + s + t.slice(at + 1);
      });

  test('the samples are valid (mutations start from real inputs)', () => {
    expect(designs.length * scenarios.length * profiles.length).toBeGreaterThan(0);
    for (const t of designs) expect(() => parseDesign(JSON.parse(t), 'd.json')).not.toThrow();
    for (const t of scenarios) expect(() => parseScenario(JSON.parse(t), 's.json')).not.toThrow();
    for (const t of profiles) expect(() => parseFirmwareProfile(JSON.parse(t), 'p.json')).not.toThrow();
    expect(() => validateTruth(JSON.parse(truth), 't.json')).not.toThrow();
  });

  test('mutated valid texts parse or fail with one of our errors', () => {
    fc.assert(
      fc.property(textMutation([...designs, ...scenarios, ...profiles, truth]), (text) => {
        let doc: unknown;
        try {
          doc = parseJsonText(text, 'x.json');
        } catch (e) {
          expect(e).toBeInstanceOf(EfikdumpError);
          return;
        }
        for (const [, parse] of parsers) typedAndBounded(text.length, () => parse(doc));
      }),
      { numRuns: RUNS(300) },
    );
  });

  test('arbitrary JSON values, and valid documents with a field replaced by one, fail with our errors', () => {
    const docs = [...designs, ...scenarios, ...profiles, truth].map((t) => JSON.parse(t) as Record<string, unknown>);
    const replaced = fc.tuple(fc.constantFrom(...docs), fc.nat(), fc.jsonValue({ maxDepth: 3 })).map(([doc, k, value]) => {
      const keys = Object.keys(doc);
      return { ...doc, [keys[k % keys.length]]: value };
    });
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue({ maxDepth: 4 }), replaced), (doc) => {
        const size = JSON.stringify(doc)?.length ?? 4;
        for (const [, parse] of parsers) typedAndBounded(size, () => parse(doc));
      }),
      { numRuns: RUNS(300) },
    );
  });
});
