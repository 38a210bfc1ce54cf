import fc from 'fast-check';
import {
  EfiMemoryType,
  EFI_MEMORY_RUNTIME,
  EFI_MEMORY_WB,
  GiB,
  MiB,
  PAGE_SIZE,
  systemRamFromMemoryMap,
  TiB,
  type MemoryDescriptor,
  type PhysRange,
} from '@efikdump/core';
import { buildMemoryMap, platformRam } from './platform-memory-map';

const end = (d: MemoryDescriptor): number => d.start + d.pages * PAGE_SIZE;
const total = (rs: readonly PhysRange[]): number => rs.reduce((s, r) => s + r.end - r.start, 0);

/** Merges touching ranges of an already sorted list (written here, not taken from core). */
function coalesce(rs: readonly PhysRange[]): PhysRange[] {
  const out: PhysRange[] = [];
  for (const r of rs) {
    const last = out[out.length - 1];
    if (last && last.end === r.start) out[out.length - 1] = { start: last.start, end: r.end };
    else out.push({ start: r.start, end: r.end });
  }
  return out;
}

const NOT_SYSTEM_RAM: ReadonlySet<number> = new Set([
  EfiMemoryType.Reserved,
  EfiMemoryType.RuntimeServicesCode,
  EfiMemoryType.RuntimeServicesData,
  EfiMemoryType.Unusable,
  EfiMemoryType.AcpiReclaim,
  EfiMemoryType.AcpiNvs,
  EfiMemoryType.MemoryMappedIo,
  EfiMemoryType.MemoryMappedIoPortSpace,
  EfiMemoryType.PalCode,
  EfiMemoryType.Persistent,
  EfiMemoryType.Unaccepted,
]);
const RUNTIME_TYPES: ReadonlySet<number> = new Set([EfiMemoryType.RuntimeServicesCode, EfiMemoryType.RuntimeServicesData]);

/** The invariants every map this platform returns keeps. */
function expectWellFormed(ramBytes: number): MemoryDescriptor[] {
  const map = buildMemoryMap(ramBytes);
  for (const d of map) {
    expect(d.start % PAGE_SIZE).toBe(0);
    expect(Number.isSafeInteger(d.pages) && d.pages > 0).toBe(true);
    expect(Object.values(EfiMemoryType)).toContain(d.type);
    expect(d.attribute & EFI_MEMORY_WB).toBe(EFI_MEMORY_WB);
    expect((d.attribute & EFI_MEMORY_RUNTIME) !== 0n).toBe(RUNTIME_TYPES.has(d.type));
  }
  // In ascending order and without overlap.
  for (let i = 1; i < map.length; i++) expect(map[i].start).toBeGreaterThanOrEqual(end(map[i - 1]));
  // Covering exactly the platform's RAM.
  expect(coalesce(map.map((d) => ({ start: d.start, end: end(d) })))).toEqual(platformRam(ramBytes));
  return map;
}

describe('platformRam', () => {
  it.each([
    [
      '256MiB',
      256 * MiB,
      [
        [0, 0xa0000],
        [0x100000, 256 * MiB],
      ],
    ],
    [
      '2GiB',
      2 * GiB,
      [
        [0, 0xa0000],
        [0x100000, 2 * GiB],
      ],
    ],
    // QEMU's pc_q35.c splits at 2 GiB once ram_size >= 0xb0000000 (2.75 GiB).
    [
      '2.75GiB - 1MiB',
      2815 * MiB,
      [
        [0, 0xa0000],
        [0x100000, 2815 * MiB],
      ],
    ],
    [
      '2.75GiB',
      2816 * MiB,
      [
        [0, 0xa0000],
        [0x100000, 2 * GiB],
        [4 * GiB, 4 * GiB + 768 * MiB],
      ],
    ],
    [
      '2.75GiB + 1MiB',
      2817 * MiB,
      [
        [0, 0xa0000],
        [0x100000, 2 * GiB],
        [4 * GiB, 4 * GiB + 769 * MiB],
      ],
    ],
    [
      '3GiB',
      3 * GiB,
      [
        [0, 0xa0000],
        [0x100000, 2 * GiB],
        [4 * GiB, 5 * GiB],
      ],
    ],
    [
      '1TiB',
      1 * TiB,
      [
        [0, 0xa0000],
        [0x100000, 2 * GiB],
        [4 * GiB, 4 * GiB + 1 * TiB - 2 * GiB],
      ],
    ],
  ])('lays out %s below and above the PCI hole', (_, ramBytes, ranges) => {
    expect(platformRam(ramBytes)).toEqual(ranges.map(([start, e]) => ({ start, end: e })));
  });

  it('holds all installed RAM but the 384 KiB legacy hole, page aligned, below the PCI hole or above 4 GiB', () => {
    fc.assert(
      fc.property(fc.integer({ min: 256, max: 64 * 1024 * 1024 }), (mib) => {
        const ram = platformRam(mib * MiB);
        expect(total(ram)).toBe(mib * MiB - (0x100000 - 0xa0000));
        for (const r of ram) {
          expect(r.start % PAGE_SIZE).toBe(0);
          expect(r.end % PAGE_SIZE).toBe(0);
          expect(r.end <= 2815 * MiB || r.start >= 4 * GiB).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('buildMemoryMap', () => {
  it.each([
    ['256MiB', 256 * MiB],
    ['2GiB', 2 * GiB],
    ['2.75GiB', 2816 * MiB],
    ['3GiB', 3 * GiB],
    ['1TiB', 1 * TiB],
  ])('%s: page-aligned, non-overlapping descriptors that cover exactly platformRam', (_, ramBytes) => {
    const map = expectWellFormed(ramBytes);
    // Firmware keeps its runtime, ACPI and reserved regions at the top of low RAM.
    const low = platformRam(ramBytes)[1];
    const firmware = map.filter((d) => NOT_SYSTEM_RAM.has(d.type));
    expect(firmware.length).toBeGreaterThan(0);
    for (const d of firmware) expect(d.start >= low.end - 16 * MiB && end(d) <= low.end).toBe(true);
  });

  it('keeps the invariants for any whole number of MiB from 256 MiB to 64 TiB', () => {
    fc.assert(
      fc.property(fc.integer({ min: 256, max: 64 * 1024 * 1024 }), (mib) => {
        expectWellFormed(mib * MiB);
      }),
      { numRuns: 300 },
    );
  });
});

describe('systemRamFromMemoryMap', () => {
  it.each([256 * MiB, 2 * GiB, 2816 * MiB, 3 * GiB, 1 * TiB])(
    'is the platform RAM minus runtime, ACPI and reserved memory (%d bytes)',
    (ramBytes) => {
      const map = buildMemoryMap(ramBytes);
      const systemRam = systemRamFromMemoryMap(map);
      const excluded = map.filter((d) => NOT_SYSTEM_RAM.has(d.type));
      for (const d of excluded) {
        expect(systemRam.some((r) => r.start < end(d) && d.start < r.end)).toBe(false);
      }
      for (const r of systemRam) expect(platformRam(ramBytes).some((p) => r.start >= p.start && r.end <= p.end)).toBe(true);
      expect(total(systemRam)).toBe(total(platformRam(ramBytes)) - excluded.reduce((s, d) => s + d.pages * PAGE_SIZE, 0));
      // edk2's 4 MiB of runtime, ACPI and reserved regions.
      expect(total(platformRam(ramBytes)) - total(systemRam)).toBe(4 * MiB);
    },
  );

  it('keeps loader and boot-services memory (free after ExitBootServices) and drops every other type', () => {
    const types = Object.values(EfiMemoryType);
    const map: MemoryDescriptor[] = types.map((type, i) => ({ type, start: i * 16 * MiB, pages: 1024, attribute: EFI_MEMORY_WB }));
    const kept = new Set<number>([
      EfiMemoryType.LoaderCode,
      EfiMemoryType.LoaderData,
      EfiMemoryType.BootServicesCode,
      EfiMemoryType.BootServicesData,
      EfiMemoryType.Conventional,
    ]);
    expect(systemRamFromMemoryMap(map)).toEqual(map.filter((d) => kept.has(d.type)).map((d) => ({ start: d.start, end: end(d) })));
    for (const type of NOT_SYSTEM_RAM) {
      expect(systemRamFromMemoryMap([{ type, start: 0, pages: 16, attribute: EFI_MEMORY_WB | EFI_MEMORY_RUNTIME }])).toEqual([]);
    }
  });

  it('merges touching RAM descriptors and sorts an unsorted map', () => {
    const d = (type: number, startMiB: number, endMiB: number): MemoryDescriptor => ({
      type,
      start: startMiB * MiB,
      pages: ((endMiB - startMiB) * MiB) / PAGE_SIZE,
      attribute: EFI_MEMORY_WB,
    });
    const map = [
      d(EfiMemoryType.Conventional, 64, 128),
      d(EfiMemoryType.BootServicesCode, 1, 32),
      d(EfiMemoryType.LoaderData, 32, 64),
      d(EfiMemoryType.AcpiNvs, 128, 129),
      d(EfiMemoryType.Conventional, 129, 256),
    ];
    expect(systemRamFromMemoryMap(map)).toEqual([
      { start: 1 * MiB, end: 128 * MiB },
      { start: 129 * MiB, end: 256 * MiB },
    ]);
  });
});
