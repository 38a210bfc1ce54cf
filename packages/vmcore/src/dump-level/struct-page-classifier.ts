import { ConfigError, FormatError, hex } from '@efikdump/core/base';
import { vmcoreinfoNumber, type PageSource } from '../source/page-source';
import { DL_EXCLUDE_CACHE, DL_EXCLUDE_CACHE_PRI, DL_EXCLUDE_FREE, DL_EXCLUDE_USER_DATA, Excluded, type PageClassifier } from './dump-level';

/** Largest buddy order makedumpfile accepts (MAX_ORDER - 1 on x86-64: zone.free_area has 11 entries). */
const MAX_BUDDY_ORDER = 10;
/** Struct pages read at once. */
const BATCH = 512;
const PAGE_MAPPING_ANON = 1;

interface StructPageLayout {
  size: number;
  flags: number;
  mapping: number;
  mapcount?: number;
  private?: number;
  compoundHead?: number;
  pgLru: number;
  pgPrivate: number;
  pgSwapcache: number;
  pgSwapbacked?: number;
  pgSlab?: number;
  pgHwpoison?: number;
  buddyMapcount?: number;
  offlineMapcount?: number;
}

/**
 * On a real vmcore: frames classified from the crashed kernel's own `struct page`s, found through
 * VMCOREINFO, with makedumpfile's rules (__exclude_unnecessary_pages, page_is_buddy_v3,
 * is_cache_page, isAnon). Only the FLATMEM memory model (SYMBOL(mem_map)) is read; a vmcore whose
 * VMCOREINFO lacks what a level needs is a ConfigError naming the missing lines. Compound (huge)
 * pages are classified by their head only.
 */
export class StructPageClassifier implements PageClassifier {
  readonly basis: string;
  private readonly layout: StructPageLayout;
  private readonly memMapPaddr: number;
  private readonly buf: Uint8Array;
  /** A free block reaching past the last window: frames below this are excluded as free. */
  private pendingFreeEnd = 0;

  constructor(
    private readonly source: PageSource,
    private readonly level: number,
  ) {
    const info = source.vmcoreinfo;
    const file = source.name;
    if (!info) {
      throw new ConfigError(
        `dump level ${level} needs the crashed kernel's struct pages, but the vmcore has no VMCOREINFO note; use --dump-level 0 or 1`,
        { file },
      );
    }
    const num = (key: string) => vmcoreinfoNumber(info, key);
    const memMapSym = vmcoreinfoNumber(info, 'SYMBOL(mem_map)', true);
    if (memMapSym === undefined) {
      const model = info.has('SYMBOL(mem_section)')
        ? 'SPARSEMEM (SYMBOL(mem_section)), which this version does not read'
        : 'no memory model';
      throw new ConfigError(
        `dump level ${level} needs struct pages: VMCOREINFO describes ${model}; only FLATMEM (SYMBOL(mem_map)) is supported. Use --dump-level 0 or 1, or makedumpfile`,
        { file },
      );
    }
    const required: [string, boolean][] = [
      ['SIZE(page)', true],
      ['OFFSET(page.flags)', true],
      ['OFFSET(page.mapping)', true],
      ['NUMBER(PG_lru)', (level & (DL_EXCLUDE_CACHE | DL_EXCLUDE_CACHE_PRI)) !== 0],
      ['NUMBER(PG_private)', (level & DL_EXCLUDE_CACHE) !== 0],
      ['NUMBER(PG_swapcache)', (level & (DL_EXCLUDE_CACHE | DL_EXCLUDE_CACHE_PRI)) !== 0],
      ['OFFSET(page._mapcount)', (level & DL_EXCLUDE_FREE) !== 0],
      ['OFFSET(page.private)', (level & DL_EXCLUDE_FREE) !== 0],
      ['NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)', (level & DL_EXCLUDE_FREE) !== 0],
    ];
    const missing = required.filter(([k, needed]) => needed && num(k) === undefined).map(([k]) => k);
    if (missing.length) {
      throw new ConfigError(`dump level ${level} needs VMCOREINFO lines that this vmcore lacks: ${missing.join(', ')}`, { file });
    }
    const n = (k: string): number | undefined => {
      const v = num(k);
      return v === undefined ? undefined : Number(v);
    };
    this.layout = {
      size: n('SIZE(page)')!,
      flags: n('OFFSET(page.flags)')!,
      mapping: n('OFFSET(page.mapping)')!,
      mapcount: n('OFFSET(page._mapcount)'),
      private: n('OFFSET(page.private)'),
      compoundHead: n('OFFSET(page.compound_head)'),
      pgLru: n('NUMBER(PG_lru)') ?? -1,
      pgPrivate: n('NUMBER(PG_private)') ?? -1,
      pgSwapcache: n('NUMBER(PG_swapcache)') ?? -1,
      pgSwapbacked: n('NUMBER(PG_swapbacked)'),
      pgSlab: n('NUMBER(PG_slab)'),
      pgHwpoison: n('NUMBER(PG_hwpoison)'),
      buddyMapcount: n('NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)'),
      offlineMapcount: n('NUMBER(PAGE_OFFLINE_MAPCOUNT_VALUE)'),
    };
    const L = this.layout;
    const fields = [L.flags + 8, L.mapping + 8, (L.mapcount ?? 0) + 4, (L.private ?? 0) + 8, (L.compoundHead ?? 0) + 8];
    if (!(L.size >= 8 && L.size <= 1024 && fields.every((end) => end <= L.size))) {
      throw new FormatError(
        'VMCOREINFO SIZE(page) and OFFSET(page.*)',
        'fields inside a struct page of 8..1024 bytes',
        `SIZE(page)=${L.size}`,
        { file },
      );
    }
    // SYMBOL(mem_map) is the address of the kernel's `mem_map` pointer: read it, then translate it.
    const ptrPaddr = source.kernelVirtToPhys(memMapSym);
    const ptr = new Uint8Array(8);
    if (ptrPaddr === undefined || !source.readPhys(ptrPaddr, ptr)) {
      throw new FormatError('SYMBOL(mem_map)', 'a kernel address whose 8 bytes are in the dump', hex(memMapSym), { file });
    }
    const memMap = new DataView(ptr.buffer).getBigUint64(0, true);
    const memMapPaddr = memMap ? source.kernelVirtToPhys(memMap) : undefined;
    if (memMapPaddr === undefined)
      throw new FormatError('mem_map pointer', 'a mapped kernel address', hex(memMap), { file, offset: ptrPaddr });
    this.memMapPaddr = memMapPaddr;
    this.buf = new Uint8Array(BATCH * L.size);
    this.basis = `struct pages (FLATMEM mem_map at physical ${hex(memMapPaddr)})`;
  }

  classify(startPfn: number, out: Uint8Array, isRam: (pfn: number) => boolean): void {
    const L = this.layout;
    const level = this.level;
    out.fill(Excluded.Kept);
    const view = new DataView(this.buf.buffer);
    // Flag bits as a mask per 32-bit half of page.flags (0: the kernel does not have the flag);
    // everything is read as 32-bit words: no BigInt per page.
    const bitOf = (bit: number | undefined): [number, number] =>
      bit === undefined || bit < 0 || bit >= 64 ? [0, 0] : bit < 32 ? [(1 << bit) >>> 0, 0] : [0, (1 << (bit - 32)) >>> 0];
    const [lruLo, lruHi] = bitOf(L.pgLru);
    const [privLo, privHi] = bitOf(L.pgPrivate);
    const [swapcacheLo, swapcacheHi] = bitOf(L.pgSwapcache);
    const [swapbackedLo, swapbackedHi] = bitOf(L.pgSwapbacked);
    const [slabLo, slabHi] = bitOf(L.pgSlab);
    const [hwpoisonLo, hwpoisonHi] = bitOf(L.pgHwpoison);
    const noSwapbacked = L.pgSwapbacked === undefined;
    const hasMapcount = L.mapcount !== undefined;
    const mapcountAt = L.mapcount ?? 0;
    const buddy = L.buddyMapcount;
    const offline = L.offlineMapcount;
    const wantFree = (level & DL_EXCLUDE_FREE) !== 0;
    for (let base = 0; base < out.length; base += BATCH) {
      const count = Math.min(BATCH, out.length - base);
      let anyRam = false;
      for (let i = 0; i < count && !anyRam; i++) anyRam = isRam(startPfn + base + i);
      if (!anyRam && this.pendingFreeEnd <= startPfn + base) continue;
      const paddr = this.memMapPaddr + (startPfn + base) * L.size;
      if (!this.source.readPhys(paddr, this.buf.subarray(0, count * L.size))) {
        throw new FormatError(
          'struct page',
          `the mem_map of frames ${hex(startPfn + base)}.. in the dump`,
          `physical ${hex(paddr)} not in it`,
          { file: this.source.name },
        );
      }
      for (let i = 0; i < count; i++) {
        const pfn = startPfn + base + i;
        const at = base + i;
        if (pfn < this.pendingFreeEnd) {
          if (isRam(pfn)) out[at] = Excluded.Free;
          continue;
        }
        if (!isRam(pfn)) continue;
        const off = i * L.size;
        const lo = view.getUint32(off + L.flags, true);
        const hi = view.getUint32(off + L.flags + 4, true);
        if (L.compoundHead !== undefined && (view.getUint32(off + L.compoundHead, true) & 1) === 1) continue; // tail page
        const anon = (view.getUint32(off + L.mapping, true) & PAGE_MAPPING_ANON) !== 0;
        const mapcount = hasMapcount ? view.getInt32(off + mapcountAt, true) : undefined;
        const has = (mLo: number, mHi: number) => ((lo & mLo) | (hi & mHi)) !== 0;
        const cache = has(lruLo, lruHi) || ((noSwapbacked || has(swapbackedLo, swapbackedHi)) && has(swapcacheLo, swapcacheHi));
        if (wantFree && !has(slabLo, slabHi) && mapcount !== undefined && mapcount === buddy) {
          // page.private holds the order: a u64 of at most MAX_BUDDY_ORDER
          const orderLo = view.getUint32(off + L.private!, true);
          const orderHi = view.getUint32(off + L.private! + 4, true);
          if (orderHi !== 0 || orderLo > MAX_BUDDY_ORDER) continue;
          out[at] = Excluded.Free;
          this.pendingFreeEnd = pfn + 2 ** orderLo;
        } else if (level & DL_EXCLUDE_CACHE && cache && !has(privLo, privHi) && !anon) {
          out[at] = Excluded.Cache;
        } else if (level & DL_EXCLUDE_CACHE_PRI && cache && !anon) {
          out[at] = has(privLo, privHi) ? Excluded.CachePrivate : Excluded.Cache;
        } else if (level & DL_EXCLUDE_USER_DATA && anon) {
          out[at] = Excluded.User;
        } else if (has(hwpoisonLo, hwpoisonHi)) {
          out[at] = Excluded.Hwpoison;
        } else if (mapcount !== undefined && offline !== undefined && mapcount === offline) {
          out[at] = Excluded.Offline;
        }
      }
    }
  }
}
