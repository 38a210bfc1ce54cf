import { ConfigError } from '@efikdump/core/base';

// makedumpfile.h DL_EXCLUDE_* (domain reference §3.2).
export const DL_EXCLUDE_ZERO = 1;
export const DL_EXCLUDE_CACHE = 2;
export const DL_EXCLUDE_CACHE_PRI = 4;
export const DL_EXCLUDE_USER_DATA = 8;
export const DL_EXCLUDE_FREE = 16;
export const MAX_DUMP_LEVEL = 31;

/** Why a frame is left out, as makedumpfile counts them (0: kept). */
export const Excluded = { Kept: 0, Free: 1, Cache: 2, CachePrivate: 3, User: 4, Hwpoison: 5, Offline: 6 } as const;

export const EXCLUDED_NAMES = ['kept', 'free', 'cache', 'cache-private', 'user', 'hwpoison', 'offline'] as const;

export function parseDumpLevel(value: string | number, field = '--dump-level'): number {
  const n = typeof value === 'number' ? value : /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > MAX_DUMP_LEVEL) {
    throw new ConfigError(`--dump-level expects an integer from 0 to ${MAX_DUMP_LEVEL} (makedumpfile -d), found "${value}"`, { field });
  }
  return n;
}

/** True when `level` asks for more than zero-page exclusion: frames must then be classified. */
export const needsClassification = (level: number): boolean => (level & ~DL_EXCLUDE_ZERO) !== 0;

/**
 * Decides which frames a dump level leaves out, in windows of frames (no per-machine state). A
 * classifier may decide for a frame beyond the window (a free block of order > 0), so windows must
 * be asked for in increasing order.
 */
export interface PageClassifier {
  /** What it reads its decisions from, for messages ("page kinds", "struct page (FLATMEM mem_map)"). */
  readonly basis: string;
  /** For frames [startPfn, startPfn + out.length) that are RAM, writes an `Excluded` reason per frame. */
  classify(startPfn: number, out: Uint8Array, isRam: (pfn: number) => boolean): void;
}
