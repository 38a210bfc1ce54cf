import { existsSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { FormatError, type NvVariable } from '@efikdump/core';
import { crc32, decodeVariableStoreFv, encodeVariableStoreFv, volumeBytes, type VariableStoreVolume } from './variable-store-fv.codec';
import { VAR_ADDED, VAR_DELETED, VAR_HEADER_VALID_ONLY, VAR_IN_DELETED_TRANSITION } from './well-known';

const guidArb = fc.uuid().map((u) => u.toLowerCase());
const nameArb = fc.string({ unit: fc.integer({ min: 0x20, max: 0xd7ff }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 20 });
const stateArb = fc.constantFrom(
  VAR_ADDED,
  VAR_ADDED & VAR_DELETED,
  VAR_ADDED & VAR_IN_DELETED_TRANSITION,
  VAR_ADDED & VAR_IN_DELETED_TRANSITION & VAR_DELETED,
  VAR_HEADER_VALID_ONLY,
);
const recordArb = (auth: boolean): fc.Arbitrary<NvVariable> =>
  fc
    .record({ name: nameArb, guid: guidArb, attributes: fc.nat({ max: 0xff }), data: fc.uint8Array({ maxLength: 200 }), state: stateArb })
    .chain((r) =>
      auth
        ? fc
            .record({
              monotonicCount: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
              timestamp: fc.uint8Array({ minLength: 16, maxLength: 16 }),
              pubKeyIndex: fc.nat({ max: 0xffffffff }),
            })
            .map((a) => ({ ...r, ...a }))
        : fc.constant(r),
    );
const volumeArb: fc.Arbitrary<VariableStoreVolume> = fc.boolean().chain((auth) =>
  fc.record({
    format: fc.constant(auth ? ('authenticated' as const) : ('plain' as const)),
    nvramBytes: fc.constantFrom(0xe000, 0x10000),
    blockBytes: fc.constant(4096),
    records: fc.array(recordArb(auth), { maxLength: 12 }),
  }),
);

function onlyFormatErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof FormatError)) throw e;
  }
}

describe('edk2 variable-store firmware volume (PiFirmwareVolume.h, VariableFormat.h)', () => {
  it('round-trips: decode(encode(x)) == x, deleted and half-written records included', () => {
    fc.assert(
      fc.property(volumeArb, (v) => expect(decodeVariableStoreFv(encodeVariableStoreFv(v))).toEqual(v)),
      { numRuns: 200 },
    );
  });

  it('lays out the volume as OVMF_VARS.fd: FV header with the NV GUID, store header at 0x48, records at 0x64, 4-byte aligned, FTW working block', () => {
    const rec = (name: string, n: number): NvVariable => ({
      name,
      guid: '8be4df61-93ca-11d2-aa0d-00e098032b8c',
      attributes: 7,
      data: new Uint8Array(n).fill(1),
      state: VAR_ADDED,
    });
    const b = encodeVariableStoreFv({ format: 'plain', nvramBytes: 0xe000, blockBytes: 4096, records: [rec('A', 3), rec('B', 1)] });
    const v = new DataView(b.buffer);
    expect(b.length).toBe(volumeBytes(0xe000));
    expect(b.length).toBe(0x20000);
    expect(String.fromCharCode(...b.subarray(40, 44))).toBe('_FVH');
    expect(v.getUint16(48, true)).toBe(0x48);
    expect([v.getUint32(56, true), v.getUint32(60, true), v.getUint32(64, true)]).toEqual([0x20, 0x1000, 0]);
    expect(v.getUint32(0x48 + 16, true)).toBe(0xe000 - 0x48);
    expect([b[0x48 + 20], b[0x48 + 21]]).toEqual([0x5a, 0xfe]);
    // First record: StartId 0x55AA, State, Attributes, NameSize, DataSize, GUID (32 bytes), "A\0", 3 bytes of data.
    expect(v.getUint16(0x64, true)).toBe(0x55aa);
    expect(b[0x64 + 2]).toBe(VAR_ADDED);
    expect([v.getUint32(0x64 + 8, true), v.getUint32(0x64 + 12, true)]).toEqual([4, 3]);
    // Next record at HEADER_ALIGN(0x64 + 32 + 4 + 3 = 0x8b) = 0x8c; the padding byte is erased (0xff).
    expect(b[0x8b]).toBe(0xff);
    expect(v.getUint16(0x8c, true)).toBe(0x55aa);
    // FTW working block header CRC as edk2 computes it (Crc and state erased while computing).
    const w = 0xe000 + 0x1000;
    const hdr = b.slice(w, w + 32);
    hdr.fill(0xff, 16, 21);
    expect(v.getUint32(w + 16, true)).toBe(crc32(hdr));
  });

  const OVMF = ['/usr/share/OVMF/OVMF_VARS_4M.fd', '/usr/share/OVMF/OVMF_VARS.fd', '/usr/share/OVMF/OVMF_VARS_4M.ms.fd'];
  const haveOvmf = existsSync(OVMF[0]);
  if (!haveOvmf && process.env.EFIKDUMP_REQUIRE_INTEROP === '1')
    throw new Error('Debian package ovmf is required (EFIKDUMP_REQUIRE_INTEROP=1)');
  (haveOvmf ? it : it.skip)(
    "writes the empty OVMF_VARS files of Debian's ovmf byte for byte, and re-encodes a populated one byte for byte",
    () => {
      for (const file of OVMF) {
        const real = new Uint8Array(readFileSync(file));
        const v = decodeVariableStoreFv(real, file);
        expect(v.format).toBe('authenticated');
        expect(Buffer.from(encodeVariableStoreFv(v)).equals(Buffer.from(real))).toBe(true);
      }
      const ms = decodeVariableStoreFv(new Uint8Array(readFileSync(OVMF[2])), OVMF[2]);
      const live = ms.records.filter((r) => r.state === VAR_ADDED).map((r) => r.name);
      expect(live).toEqual(expect.arrayContaining(['PK', 'KEK', 'db', 'dbx', 'MTC', 'Boot0000', 'PlatformLang']));
    },
  );

  it('refuses what is not a variable volume, naming the offset', () => {
    const good = encodeVariableStoreFv({ format: 'plain', nvramBytes: 0xe000, blockBytes: 4096, records: [] });
    const err = (mutate: (b: Uint8Array) => void): FormatError => {
      const b = good.slice();
      mutate(b);
      try {
        decodeVariableStoreFv(b, 'x.fd');
      } catch (e) {
        if (e instanceof FormatError) return e;
      }
      throw new Error('expected a FormatError');
    };
    expect(err((b) => (b[40] = 0)).offset).toBe(40);
    expect(err((b) => (b[16] ^= 1)).offset).toBe(16);
    expect(err((b) => (b[50] ^= 1)).offset).toBe(50);
    expect(err((b) => (b[0x48] ^= 1)).offset).toBe(0x48);
    expect(err((b) => (b[0x48 + 20] = 0)).offset).toBe(0x48 + 20);
    expect(() => decodeVariableStoreFv(good.subarray(0, 20))).toThrow(FormatError);
  });

  it('throws only FormatError on random and mutated volumes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => onlyFormatErrors(() => decodeVariableStoreFv(b))),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(
        volumeArb,
        fc.array(fc.record({ at: fc.nat({ max: 0x2000 }), value: fc.nat({ max: 255 }) }), { maxLength: 8 }),
        (v, pokes) => {
          const b = encodeVariableStoreFv(v);
          for (const p of pokes) b[p.at] = p.value;
          onlyFormatErrors(() => decodeVariableStoreFv(b));
        },
      ),
      { numRuns: 200 },
    );
  });
});
