import type { PhysicalMemory } from '@efikdump/core';
import { DL_EXCLUDE_CACHE, DL_EXCLUDE_CACHE_PRI, DL_EXCLUDE_FREE, DL_EXCLUDE_USER_DATA, Excluded, type PageClassifier } from './dump-level';

/**
 * Inside the simulator: frames classified from the page kinds of the crashed machine's memory,
 * as its kernel describes them in mem_map (kernel-crash `pageStateOfKind`): never-written `zero`
 * frames are free buddy pages, `page-cache` frames are page cache without buffer heads, `anon`
 * frames are user data; kernel text, slab and the computed mem_map are kept.
 */
export class PageKindClassifier implements PageClassifier {
  readonly basis = "the simulator's page kinds";

  constructor(
    private readonly memory: PhysicalMemory,
    private readonly level: number,
  ) {}

  classify(startPfn: number, out: Uint8Array, isRam: (pfn: number) => boolean): void {
    const level = this.level;
    for (let i = 0; i < out.length; i++) {
      const pfn = startPfn + i;
      out[i] = Excluded.Kept;
      if (!isRam(pfn)) continue;
      switch (this.memory.kindOf(pfn).kind) {
        case 'zero':
          if (level & DL_EXCLUDE_FREE) out[i] = Excluded.Free;
          break;
        case 'page-cache':
          if (level & (DL_EXCLUDE_CACHE | DL_EXCLUDE_CACHE_PRI)) out[i] = Excluded.Cache;
          break;
        case 'anon':
          if (level & DL_EXCLUDE_USER_DATA) out[i] = Excluded.User;
          break;
        default:
          break;
      }
    }
  }
}
