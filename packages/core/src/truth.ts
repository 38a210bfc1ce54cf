import { readJsonFile } from './config';
import { ConfigError } from './errors';

/** The truth manifest (architecture.md): what a correct dump must contain. */
export interface TruthManifest {
  format: 'efikdump-truth/1';
  pageSize: number;
  pages: { paddr: number; sha256: string }[];
  zeroPages: number[];
  excluded: [number, number][];
}

/** Most sampled non-zero pages a run may write into a truth (`efikdump run --truth-pages`). */
export const TRUTH_MAX_PAGES = 100_000;
/** Most zero pages a truth lists (runs write 256). */
export const TRUTH_MAX_ZERO_PAGES = 100_000;
/** Most excluded ranges a truth lists (runs write the crashkernel= reservation, one range per piece). */
export const TRUTH_MAX_EXCLUDED = 4096;

/**
 * The size cap for reading a truth manifest, computed for the largest machine the CLI accepts
 * (64 TiB of RAM, physical addresses below 2^47, at most 15 decimal digits): a page entry
 * `{"paddr":D,"sha256":"H"},` is 9 + 15 + 11 + 64 + 2 + 1 = 102 bytes, a zero page 16, an excluded
 * range `[D,D],` 34; TRUTH_MAX_PAGES + TRUTH_MAX_ZERO_PAGES + TRUTH_MAX_EXCLUDED of them, plus
 * the header, is 11.9 MB: 16 MiB leaves room for whitespace.
 */
export const TRUTH_ENTRY_BYTES = 102;
export const MAX_TRUTH_BYTES = 16 * 1024 * 1024;

/** Reads and validates the truth manifest at `file` (a regular file of at most MAX_TRUTH_BYTES). */
export function readTruthFile(file: string): TruthManifest {
  return validateTruth(readJsonFile(file, MAX_TRUTH_BYTES), file);
}

const MAX_PADDR = 2 ** 47;
const pageAddress = (a: unknown): a is number =>
  Number.isSafeInteger(a) && (a as number) >= 0 && (a as number) < MAX_PADDR && (a as number) % 4096 === 0;

/** Validates a parsed truth manifest; errors name the file and the field. */
export function validateTruth(doc: unknown, file: string): TruthManifest {
  const fail = (field: string, expected: string): never => {
    throw new ConfigError(`expected ${expected}`, { file, field });
  };
  if (typeof doc !== 'object' || doc === null) fail('(document)', 'a JSON object');
  const d = doc as Record<string, unknown>;
  if (d.format !== 'efikdump-truth/1') fail('format', '"efikdump-truth/1"');
  if (d.pageSize !== 4096) fail('pageSize', '4096');
  if (!Array.isArray(d.pages) || d.pages.length > TRUTH_MAX_PAGES) fail('pages', `an array of at most ${TRUTH_MAX_PAGES} entries`);
  (d.pages as unknown[]).forEach((p, i) => {
    const e = p as Record<string, unknown>;
    if (typeof e !== 'object' || e === null) fail(`pages[${i}]`, 'an object');
    if (!pageAddress(e.paddr)) fail(`pages[${i}].paddr`, 'a page-aligned address below 2^47');
    if (typeof e.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(e.sha256)) fail(`pages[${i}].sha256`, '64 lowercase hex digits');
  });
  if (!Array.isArray(d.zeroPages) || d.zeroPages.length > TRUTH_MAX_ZERO_PAGES)
    fail('zeroPages', `an array of at most ${TRUTH_MAX_ZERO_PAGES} entries`);
  (d.zeroPages as unknown[]).forEach((a, i) => {
    if (!pageAddress(a)) fail(`zeroPages[${i}]`, 'a page-aligned address below 2^47');
  });
  if (!Array.isArray(d.excluded) || d.excluded.length > TRUTH_MAX_EXCLUDED)
    fail('excluded', `an array of at most ${TRUTH_MAX_EXCLUDED} ranges`);
  (d.excluded as unknown[]).forEach((r, i) => {
    if (!Array.isArray(r) || r.length !== 2 || !r.every((x) => Number.isSafeInteger(x) && x >= 0 && x <= MAX_PADDR) || r[0] > r[1])
      fail(`excluded[${i}]`, 'a [start, end] pair of addresses up to 2^47');
  });
  return d as unknown as TruthManifest;
}
