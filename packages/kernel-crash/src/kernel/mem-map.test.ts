import { GiB, MiB, PAGE_SIZE, parseVmcoreinfo, PhysicalMemory, TiB, decodeAscii, walkNotes } from '@efikdump/core';
import {
  encodeStructPage,
  memMapRegion,
  PAGE_BUDDY_MAPCOUNT_VALUE,
  PAGE_LRU_OFFSET,
  PAGE_MAPCOUNT_OFFSET,
  PAGE_MAPPING_OFFSET,
  PAGE_REFCOUNT_OFFSET,
  pageStateOfKind,
  placeMemMap,
  PG_LRU,
  PG_RESERVED,
  PG_SLAB,
  PG_SWAPBACKED,
  STRUCT_PAGE_BYTES,
} from './mem-map';
import { vmcoreinfoEntries, encodeVmcoreinfoBuffer } from './vmcoreinfo';

const structPageAt = (page: Uint8Array, index: number) =>
  new DataView(page.buffer, page.byteOffset + index * STRUCT_PAGE_BYTES, STRUCT_PAGE_BYTES);
const flagsOf = (v: DataView) => v.getBigUint64(0, true);

describe('FLATMEM mem_map', () => {
  test('is placed at the top of the highest RAM range with room, outside what it must avoid, 2 MiB aligned', () => {
    const ram = [
      { start: 0x100000, end: 2 * GiB },
      { start: 4 * GiB, end: 6 * GiB },
    ];
    const m = placeMemMap(ram, [], 6 * GiB);
    expect(m.pfnCount).toBe((6 * GiB) / PAGE_SIZE);
    expect(m.sizeBytes).toBe(m.pfnCount * 64);
    expect(m.paddr + m.sizeBytes).toBeLessThanOrEqual(6 * GiB);
    expect(m.paddr % (2 * MiB)).toBe(0);
    const avoided = placeMemMap(ram, [{ start: 5 * GiB, end: 6 * GiB }], 6 * GiB);
    expect(avoided.paddr + avoided.sizeBytes).toBeLessThanOrEqual(5 * GiB);
    expect(avoided.vaddr).toBe(0xffff888000000000n + BigInt(avoided.paddr));
  });

  test('struct pages follow the page kinds: buddy, LRU cache, anonymous, slab, reserved', () => {
    expect(['zero', 'page-cache', 'anon', 'slab', 'kernel-text'].map((k) => pageStateOfKind(k as never))).toEqual([
      'free',
      'cache',
      'anon',
      'slab',
      'kernel',
    ]);
    const buf = new Uint8Array(5 * STRUCT_PAGE_BYTES);
    const v = new DataView(buf.buffer);
    (['free', 'cache', 'anon', 'slab', 'reserved'] as const).forEach((state, i) =>
      encodeStructPage(v, i * STRUCT_PAGE_BYTES, 1000 + i, state, 0x1000000 + i * 64, 7),
    );
    const [free, cache, anon, slab, reserved] = [0, 1, 2, 3, 4].map((i) => structPageAt(buf, i));
    expect(free.getInt32(PAGE_MAPCOUNT_OFFSET, true)).toBe(PAGE_BUDDY_MAPCOUNT_VALUE);
    expect(free.getInt32(PAGE_REFCOUNT_OFFSET, true)).toBe(0);
    expect(flagsOf(free)).toBe(0n);
    expect(flagsOf(cache) & (1n << BigInt(PG_LRU))).not.toBe(0n);
    expect(cache.getBigUint64(PAGE_MAPPING_OFFSET, true) & 1n).toBe(0n);
    expect(flagsOf(anon) & (1n << BigInt(PG_SWAPBACKED))).not.toBe(0n);
    expect(anon.getBigUint64(PAGE_MAPPING_OFFSET, true) & 1n).toBe(1n);
    expect(flagsOf(slab)).toBe(1n << BigInt(PG_SLAB));
    expect(flagsOf(reserved)).toBe(1n << BigInt(PG_RESERVED));
    // lru points at itself: even, so makedumpfile never takes it for a compound tail
    expect(reserved.getBigUint64(PAGE_LRU_OFFSET, true)).toBe(0xffff888000000000n + BigInt(0x1000000 + 4 * 64 + 8));
  });

  test('1 TiB of RAM: the 16 GiB array is computed on demand, never stored', () => {
    const ram = [
      { start: 0, end: 0xa0000 },
      { start: 0x100000, end: 2 * GiB },
      { start: 4 * GiB, end: 4 * GiB + 1 * TiB - 2 * GiB },
    ];
    const memory = new PhysicalMemory({ seed: 3, ram });
    const layout = placeMemMap(ram, [], 4 * GiB + 1 * TiB - 2 * GiB);
    expect(layout.sizeBytes).toBeGreaterThan(16 * GiB - 1);
    memory.compute(memMapRegion(memory, layout, [{ start: 0x1000000, end: 0x2000000 }]));
    const page = new Uint8Array(PAGE_SIZE);
    // the struct pages of frames 0x1000..0x103f (16 MiB..): inside the reserved range
    memory.read(layout.paddr + (0x1000000 / PAGE_SIZE) * STRUCT_PAGE_BYTES, page);
    expect(flagsOf(structPageAt(page, 0))).toBe(1n << BigInt(PG_RESERVED));
    // a frame above 4 GiB agrees with its kind
    const pfn = (5 * GiB) / PAGE_SIZE + 17;
    memory.read(layout.paddr + pfn * STRUCT_PAGE_BYTES - (pfn % 64) * STRUCT_PAGE_BYTES, page);
    const v = structPageAt(page, pfn % 64);
    const kind = memory.kindOf(pfn).kind;
    if (kind === 'zero') expect(v.getInt32(PAGE_MAPCOUNT_OFFSET, true)).toBe(PAGE_BUDDY_MAPCOUNT_VALUE);
    else expect(v.getInt32(PAGE_MAPCOUNT_OFFSET, true)).not.toBe(PAGE_BUDDY_MAPCOUNT_VALUE);
    // the array's own frames are kernel memory, the frames in the PCI hole are reserved
    expect(memory.kindOf(layout.paddr / PAGE_SIZE).kind).toBe('slab');
    memory.read(layout.paddr + ((3 * GiB) / PAGE_SIZE) * STRUCT_PAGE_BYTES, page);
    expect(flagsOf(structPageAt(page, 0))).toBe(1n << BigInt(PG_RESERVED));
    expect(memory.overlayPages).toBe(0);
    // a later fill (firmware scrubbing it) takes precedence
    memory.fill({ start: layout.paddr, end: layout.paddr + 2 * MiB }, 'zero', 1, 'scrub');
    memory.read(layout.paddr, page);
    expect(page.every((b) => b === 0)).toBe(true);
  });

  test('VMCOREINFO publishes the memory model and struct page layout makedumpfile reads', () => {
    const buf = encodeVmcoreinfoBuffer(vmcoreinfoEntries(1767225600));
    const lines = parseVmcoreinfo(decodeAscii(walkNotes(buf).notes[0].desc));
    expect(lines.get('SYMBOL(mem_map)')).toMatch(/^ffffffff8[0-9a-f]+$/);
    expect(lines.get('SIZE(page)')).toBe('64');
    for (const k of ['flags', '_refcount', 'mapping', 'lru', '_mapcount', 'private']) expect(lines.has(`OFFSET(page.${k})`)).toBe(true);
    expect(lines.get('NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)')).toBe('-129');
    expect(lines.get('NUMBER(PG_lru)')).toBe(String(PG_LRU));
  });
});
