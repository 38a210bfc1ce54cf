import {
  mix32,
  PAGE_SIZE,
  pageAlignUp,
  subtractRanges,
  SimulationError,
  type ComputedRegion,
  type GeneratedKind,
  type PhysicalMemory,
  type PhysRange,
} from '@efikdump/core';
import { directMapVirt } from './layout';

// `struct page` as Linux 6.1 x86-64 lays it out (include/linux/mm_types.h): the offsets published
// in VMCOREINFO, so that makedumpfile and our own filter read the same fields.
export const STRUCT_PAGE_BYTES = 64;
export const PAGE_FLAGS_OFFSET = 0;
/** `lru` (a list_head); `compound_head` shares its first word (bit 0 set only in tail pages). */
export const PAGE_LRU_OFFSET = 8;
export const PAGE_MAPPING_OFFSET = 24;
export const PAGE_INDEX_OFFSET = 32;
export const PAGE_PRIVATE_OFFSET = 40;
/** `_mapcount`, shared with `page_type` (include/linux/page-flags.h PageType). */
export const PAGE_MAPCOUNT_OFFSET = 48;
export const PAGE_REFCOUNT_OFFSET = 52;

// Page flag bits (include/linux/page-flags.h enum pageflags, x86-64 with CONFIG_MEMORY_FAILURE).
export const PG_UPTODATE = 2;
export const PG_LRU = 4;
export const PG_ACTIVE = 5;
export const PG_SLAB = 9;
/** PG_swapcache is PG_owner_priv_1. */
export const PG_SWAPCACHE = 10;
export const PG_RESERVED = 12;
export const PG_PRIVATE = 13;
export const PG_HEAD = 16;
export const PG_SWAPBACKED = 19;
export const PG_HWPOISON = 23;
/** page_type values of _mapcount: ~PG_buddy (0x80) and ~PG_offline (0x100). */
export const PAGE_BUDDY_MAPCOUNT_VALUE = -129;
export const PAGE_OFFLINE_MAPCOUNT_VALUE = -257;
/** Low bit of page->mapping for anonymous pages (include/linux/page-flags.h). */
export const PAGE_MAPPING_ANON = 1;

/**
 * What the 1st kernel's memory manager says a frame is, from the simulator's page kinds:
 * never-written `zero` frames are free (buddy, order 0), `page-cache` frames are unmapped file
 * pages on the LRU (none has buffer heads, so no PG_private), `anon` frames are mapped anonymous
 * pages, `kernel-text` is reserved, `slab` is slab. Frames outside RAM or in `reserved` ranges
 * (the crashkernel region, mem_map itself) are PG_reserved.
 */
export type PageState = 'reserved' | 'free' | 'cache' | 'anon' | 'slab' | 'kernel';

export function pageStateOfKind(kind: GeneratedKind): PageState {
  switch (kind) {
    case 'zero':
      return 'free';
    case 'page-cache':
      return 'cache';
    case 'anon':
      return 'anon';
    case 'slab':
      return 'slab';
    case 'kernel-text':
      return 'kernel';
  }
}

export interface MemMapLayout {
  /** Physical address of the array: page aligned, inside System RAM, outside `avoid`. */
  paddr: number;
  /** Frames described: pfn 0 .. pfnCount-1 (FLATMEM covers every frame below the top of RAM). */
  pfnCount: number;
  /** Bytes of the array rounded up to whole pages. */
  sizeBytes: number;
  /** The value of the kernel's `mem_map` pointer (direct-map virtual address of the array). */
  vaddr: bigint;
}

/**
 * Places a FLATMEM mem_map for RAM up to `maxPhys` at the top of the highest System RAM range that
 * has room outside `avoid` (the kernel image, the crashkernel region, ...), 2 MiB aligned, as
 * memblock allocates it top down. 1 TiB of RAM takes a 16 GiB array: it is never stored, see
 * `memMapRegion`.
 */
export function placeMemMap(systemRam: readonly PhysRange[], avoid: readonly PhysRange[], maxPhys: number): MemMapLayout {
  const pfnCount = Math.ceil(maxPhys / PAGE_SIZE);
  const sizeBytes = pageAlignUp(pfnCount * STRUCT_PAGE_BYTES);
  const align = 2 * 1024 * 1024;
  const free = subtractRanges(systemRam, avoid);
  for (let i = free.length - 1; i >= 0; i--) {
    const r = free[i];
    const start = Math.floor((r.end - sizeBytes) / align) * align;
    if (start >= r.start) return { paddr: start, pfnCount, sizeBytes, vaddr: directMapVirt(start) };
  }
  throw new SimulationError(`no System RAM range has room for a ${sizeBytes}-byte mem_map`);
}

/** Frame kinds as they were at the crash, per machine: what firmware or a capture kernel writes later does not change the crashed kernel's struct pages. */
const frozenKinds = new WeakMap<PhysicalMemory, (pfn: number) => GeneratedKind>();

/** From now on the mem_map describes every frame as it is now (called at the panic). */
export function freezeMemMapStates(memory: PhysicalMemory): void {
  frozenKinds.set(memory, memory.kindsNow());
}

/** Old frames whose state is now read at another address (fadump's copy of boot memory), per machine. */
const relocations = new WeakMap<PhysicalMemory, { from: PhysRange; to: number }[]>();

/**
 * From now on the mem_map describes the frames of `from` as the copy at `to` holds them: the
 * crashed kernel's struct pages do not change when a new kernel reuses the frames (fadump).
 */
export function relocateMemMapStates(memory: PhysicalMemory, from: PhysRange, to: number): void {
  relocations.set(memory, [...(relocations.get(memory) ?? []), { from, to }]);
}

/**
 * The mem_map array as a computed region of `memory`: each struct page is derived on demand from
 * the state of the frame it describes, so a 16 GiB array costs nothing until a dump tool reads it.
 */
export function memMapRegion(memory: PhysicalMemory, layout: MemMapLayout, reserved: readonly PhysRange[]): ComputedRegion {
  const perPage = PAGE_SIZE / STRUCT_PAGE_BYTES;
  const base = layout.paddr / PAGE_SIZE;
  const reservedRanges = [...reserved, { start: layout.paddr, end: layout.paddr + layout.sizeBytes }];
  const stateOf = (pfn: number): PageState => {
    const paddr = pfn * PAGE_SIZE;
    if (!memory.isRam(paddr, PAGE_SIZE)) return 'reserved';
    for (const r of reservedRanges) if (paddr >= r.start && paddr < r.end) return 'reserved';
    const moved = relocations.get(memory)?.find((m) => paddr >= m.from.start && paddr < m.from.end);
    const at = moved ? (moved.to + (paddr - moved.from.start)) / PAGE_SIZE : pfn;
    // Frozen at the crash: the frame's own state then (a fadump copy carries exactly that state).
    const frozen = frozenKinds.get(memory);
    return pageStateOfKind(frozen ? frozen(pfn) : memory.kindOf(at).kind);
  };
  return {
    start: layout.paddr,
    end: layout.paddr + layout.sizeBytes,
    kind: 'slab',
    label: 'mem_map',
    generate(pfn: number, dst: Uint8Array): void {
      dst.fill(0, 0, PAGE_SIZE);
      const view = new DataView(dst.buffer, dst.byteOffset, PAGE_SIZE);
      const first = (pfn - base) * perPage;
      for (let i = 0; i < perPage; i++) {
        const described = first + i;
        if (described >= layout.pfnCount) break;
        encodeStructPage(
          view,
          i * STRUCT_PAGE_BYTES,
          described,
          stateOf(described),
          layout.paddr + described * STRUCT_PAGE_BYTES,
          memory.seed,
        );
      }
    },
  };
}

/** Writes a direct-map pointer (PAGE_OFFSET + paddr, with `low` or-ed in) as two 32-bit halves: no BigInt per field. */
function setDirectMapPointer(view: DataView, off: number, paddr: number, low = 0): void {
  view.setUint32(off, ((paddr % 0x100000000) | low) >>> 0, true);
  view.setUint32(off + 4, PAGE_OFFSET_HIGH + Math.floor(paddr / 0x100000000), true);
}

/** High 32 bits of PAGE_OFFSET (0xffff888000000000); its low 32 bits are zero. */
const PAGE_OFFSET_HIGH = 0xffff8880;

/**
 * Writes the struct page of frame `pfn` in `state` at `off` of `view` (zero-filled before);
 * `selfPaddr` is the physical address of that struct page.
 */
export function encodeStructPage(view: DataView, off: number, pfn: number, state: PageState, selfPaddr: number, seed: number): void {
  let flags = 0;
  let mapping = -1;
  let anon = 0;
  let mapcount = -1;
  let refcount = 1;
  const h = mix32(seed, Math.floor(pfn / 16), 0x9a6e);
  switch (state) {
    case 'reserved':
    case 'kernel':
      flags = 1 << PG_RESERVED;
      break;
    case 'slab':
      flags = 1 << PG_SLAB;
      break;
    case 'free':
      mapcount = PAGE_BUDDY_MAPCOUNT_VALUE;
      refcount = 0;
      break;
    case 'cache':
      flags = (1 << PG_UPTODATE) | (1 << PG_LRU) | (h & 1 ? 1 << PG_ACTIVE : 0);
      // an address_space in the direct map (8-byte aligned, so bit 0 is clear)
      mapping = 0x3000000 + (h % 4096) * 256;
      break;
    case 'anon':
      flags = (1 << PG_UPTODATE) | (1 << PG_LRU) | (1 << PG_SWAPBACKED) | (h & 1 ? 1 << PG_ACTIVE : 0);
      mapping = 0x3100000 + (h % 4096) * 128;
      anon = PAGE_MAPPING_ANON;
      mapcount = 0;
      break;
  }
  view.setUint32(off + PAGE_FLAGS_OFFSET, flags >>> 0, true);
  // lru: an empty list (both pointers at itself); even, so never read as a compound tail
  setDirectMapPointer(view, off + PAGE_LRU_OFFSET, selfPaddr + PAGE_LRU_OFFSET);
  setDirectMapPointer(view, off + PAGE_LRU_OFFSET + 8, selfPaddr + PAGE_LRU_OFFSET);
  if (mapping >= 0) setDirectMapPointer(view, off + PAGE_MAPPING_OFFSET, mapping, anon);
  if (state === 'cache' || state === 'anon') view.setUint32(off + PAGE_INDEX_OFFSET, pfn & 0xfffff, true);
  view.setInt32(off + PAGE_MAPCOUNT_OFFSET, mapcount, true);
  view.setInt32(off + PAGE_REFCOUNT_OFFSET, refcount, true);
}

/** The ranges a FLATMEM mem_map of `layout` occupies (for callers that must keep out of it). */
export const memMapRange = (layout: MemMapLayout): PhysRange => ({ start: layout.paddr, end: layout.paddr + layout.sizeBytes });
