import { ConfigError, FormatError, type ErrorPlace } from './errors';

/**
 * Physical addresses and sizes are plain `number`s everywhere in efikdump: they are checked to be
 * safe integers (below 2^53, i.e. 8 PiB) wherever they enter from a file or a user. Wider values
 * only exist inside binary codecs as `bigint`, converted with `toSafeNumber`.
 */
export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;
export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;
export const TiB = 1024 * GiB;

export function toSafeNumber(value: bigint, what: string, place: ErrorPlace = {}): number {
  if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new FormatError(what, `a value below 2^53`, `0x${value.toString(16)}`, place);
  }
  return Number(value);
}

export const pageAlignDown = (x: number): number => Math.floor(x / PAGE_SIZE) * PAGE_SIZE;
export const pageAlignUp = (x: number): number => Math.ceil(x / PAGE_SIZE) * PAGE_SIZE;
export const alignUp = (x: number, a: number): number => Math.ceil(x / a) * a;
export const alignDown = (x: number, a: number): number => Math.floor(x / a) * a;

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: KiB,
  kb: KiB,
  kib: KiB,
  m: MiB,
  mb: MiB,
  mib: MiB,
  g: GiB,
  gb: GiB,
  gib: GiB,
  t: TiB,
  tb: TiB,
  tib: TiB,
};

/** Parses "4GiB", "512M", "0x1000", "1048576" into bytes (binary units, as the kernel does). */
export function parseSize(text: string, field = 'size'): number {
  const m = /^\s*(0x[0-9a-f]+|\d+)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? SIZE_UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new ConfigError(`expected a size such as 4GiB, 512M or 0x1000, found "${text}"`, { field });
  }
  const value = Number(m[1]) * unit;
  if (!Number.isSafeInteger(value)) {
    throw new ConfigError(`size "${text}" is too large`, { field });
  }
  return value;
}

/** 4294967296 → "4GiB"; 3145728 → "3MiB"; 1536 → "1.5KiB". */
export function formatSize(bytes: number): string {
  const units: [number, string][] = [
    [TiB, 'TiB'],
    [GiB, 'GiB'],
    [MiB, 'MiB'],
    [KiB, 'KiB'],
  ];
  for (const [size, name] of units) {
    if (bytes >= size) {
      const v = bytes / size;
      return `${Number.isInteger(v) ? v : v.toFixed(1)}${name}`;
    }
  }
  return `${bytes}B`;
}

export const hex = (x: number | bigint): string => `0x${x.toString(16)}`;
