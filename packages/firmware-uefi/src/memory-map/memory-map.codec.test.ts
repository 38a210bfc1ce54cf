import fc from 'fast-check';
import {
  EfiMemoryType,
  EFI_MEMORY_RUNTIME,
  FormatError,
  GiB,
  MiB,
  PAGE_SIZE,
  systemRamFromMemoryMap,
  type MemoryDescriptor,
} from '@efikdump/core';
import { decodeMemoryMap, DESCRIPTOR_SIZE, encodeMemoryMap, getMemoryMap } from './memory-map.codec';
import { E820, e820FromMemoryMap, iomemView, reservationInFirmwareMap, runtimeRegions } from './kernel-view';
import { buildMemoryMap } from './platform-memory-map';

const descriptorArb: fc.Arbitrary<MemoryDescriptor> = fc
  .record({
    type: fc.nat({ max: 15 }),
    start: fc.nat({ max: 2 ** 30 }).map((p) => p * PAGE_SIZE),
    pages: fc.nat({ max: 2 ** 20 }),
    attribute: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    virtualStart: fc.bigInt({ min: 1n, max: 2n ** 64n - 1n }),
  })
  .map((d) => (d.virtualStart % 3n === 0n ? { type: d.type, start: d.start, pages: d.pages, attribute: d.attribute } : d));

describe('UEFI 2.10 §7.2 GetMemoryMap', () => {
  it('encodes 48-byte descriptors, version 1, byte for byte at the spec offsets', () => {
    const d: MemoryDescriptor = {
      type: EfiMemoryType.RuntimeServicesData,
      start: 0x7f000000,
      pages: 256,
      attribute: 0x8n | EFI_MEMORY_RUNTIME,
    };
    const b = encodeMemoryMap([d, d]);
    expect(b.length).toBe(2 * DESCRIPTOR_SIZE);
    const v = new DataView(b.buffer);
    expect(v.getUint32(48, true)).toBe(6);
    expect(v.getUint32(4, true)).toBe(0);
    expect(v.getBigUint64(8, true)).toBe(0x7f000000n);
    expect(v.getBigUint64(16, true)).toBe(0n);
    expect(v.getBigUint64(24, true)).toBe(256n);
    expect(v.getBigUint64(32, true)).toBe(0x8000000000000008n);
    expect(v.getBigUint64(40, true)).toBe(0n);
  });

  it('round-trips, and throws only FormatError on random input', () => {
    fc.assert(fc.property(fc.array(descriptorArb, { maxLength: 20 }), (m) => expect(decodeMemoryMap(encodeMemoryMap(m))).toEqual(m)));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.constantFrom(40, 48, 56), (b, size) => {
        try {
          decodeMemoryMap(b, size);
        } catch (e) {
          if (!(e instanceof FormatError)) throw e;
        }
      }),
      { numRuns: 300 },
    );
  });

  it('returns EFI_BUFFER_TOO_SMALL with the size needed', () => {
    const map = buildMemoryMap(4 * GiB);
    expect(getMemoryMap(map, 10, 1)).toEqual({ status: 'EFI_BUFFER_TOO_SMALL', mapSize: map.length * 48 });
    const ok = getMemoryMap(map, 4096, 7);
    expect(ok).toMatchObject({ status: 'EFI_SUCCESS', descriptorSize: 48, descriptorVersion: 1, mapKey: 7 });
  });
});

describe("the kernel's view of the map (Linux x86-stub.c setup_e820, /proc/iomem)", () => {
  const map = buildMemoryMap(4 * GiB);
  it('turns loader, boot-services and conventional memory into RAM, and the rest into reserved, ACPI and NVS', () => {
    const e820 = e820FromMemoryMap(map);
    const ram = e820.filter((e) => e.type === E820.RAM).map(({ start, end }) => ({ start, end }));
    expect(ram).toEqual(systemRamFromMemoryMap(map));
    expect(e820.some((e) => e.type === E820.ACPI)).toBe(true);
    expect(e820.some((e) => e.type === E820.NVS)).toBe(true);
    for (let i = 1; i < e820.length; i++) expect(e820[i].start).toBeGreaterThanOrEqual(e820[i - 1].end);
  });
  it('lists the runtime regions, which SetVirtualAddressMap maps', () => {
    expect(
      runtimeRegions(map)
        .map((d) => d.type)
        .sort(),
    ).toEqual([EfiMemoryType.RuntimeServicesCode, EfiMemoryType.RuntimeServicesData]);
  });
  it('shows the crashkernel reservation as the kernel leaves it: a "Crash kernel" child of System RAM, conventional memory to the firmware', () => {
    const crash = [{ start: 0x6f000000, end: 0x7f000000 }];
    const iomem = iomemView(map, crash);
    const parent = iomem.find((e) => e.children)!;
    expect(parent.name).toBe('System RAM');
    expect(parent.children).toEqual([{ start: 0x6f000000, end: 0x7f000000, name: 'Crash kernel' }]);
    const seen = reservationInFirmwareMap(map, crash);
    expect(seen.reduce((s, r) => s + r.end - r.start, 0)).toBe(256 * MiB);
    expect(new Set(seen.map((r) => r.type))).toEqual(new Set([EfiMemoryType.Conventional]));
  });
});
