import { ConfigError } from './errors';

/** The truth manifest (architecture.md): what a correct dump must contain. */
export interface TruthManifest {
  format: 'efikdump-truth/1';
  pageSize: number;
  pages: { paddr: number; sha256: string }[];
  zeroPages: number[];
  excluded: [number, number][];
}

/** Validates a parsed truth manifest; errors name the file and the field. */
export function validateTruth(doc: unknown, file: string): TruthManifest {
  const fail = (field: string, expected: string): never => {
    throw new ConfigError(`expected ${expected}`, { file, field });
  };
  if (typeof doc !== 'object' || doc === null) fail('(document)', 'a JSON object');
  const d = doc as Record<string, unknown>;
  if (d.format !== 'efikdump-truth/1') fail('format', '"efikdump-truth/1"');
  if (d.pageSize !== 4096) fail('pageSize', '4096');
  if (!Array.isArray(d.pages)) fail('pages', 'an array');
  (d.pages as unknown[]).forEach((p, i) => {
    const e = p as Record<string, unknown>;
    if (typeof e !== 'object' || e === null) fail(`pages[${i}]`, 'an object');
    if (!Number.isSafeInteger(e.paddr) || (e.paddr as number) < 0 || (e.paddr as number) % 4096) fail(`pages[${i}].paddr`, 'a page-aligned address');
    if (typeof e.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(e.sha256)) fail(`pages[${i}].sha256`, '64 lowercase hex digits');
  });
  if (!Array.isArray(d.zeroPages)) fail('zeroPages', 'an array');
  (d.zeroPages as unknown[]).forEach((a, i) => {
    if (!Number.isSafeInteger(a) || (a as number) < 0 || (a as number) % 4096) fail(`zeroPages[${i}]`, 'a page-aligned address');
  });
  if (!Array.isArray(d.excluded)) fail('excluded', 'an array');
  (d.excluded as unknown[]).forEach((r, i) => {
    if (!Array.isArray(r) || r.length !== 2 || !r.every((x) => Number.isSafeInteger(x)) || r[0] > r[1]) fail(`excluded[${i}]`, 'a [start, end] pair');
  });
  return d as unknown as TruthManifest;
}
