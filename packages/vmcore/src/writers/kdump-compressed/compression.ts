import { inflateSync } from 'node:zlib';
import { ConfigError, FormatError, type ErrorPlace } from '@efikdump/core';
import {
  DUMP_DH_COMPRESSED_LZO, DUMP_DH_COMPRESSED_SNAPPY, DUMP_DH_COMPRESSED_ZLIB, DUMP_DH_COMPRESSED_ZSTD,
} from './diskdump.codec';
import { lzo1xDecompress } from './lzo1x';

/**
 * Per-page compressions of the kdump-compressed format (makedumpfile `-c`, `-l`, `-p`, `-z`).
 * We write zlib (Node's own zlib at level 1, Z_BEST_SPEED, as makedumpfile's compress2/deflate)
 * and none; we read zlib and lzo (LZO1X, a bounds-checked decoder of our own, checked against
 * makedumpfile -l). snappy and zstd pages are refused with a FormatError: nothing on Debian 12
 * writes snappy (its makedumpfile is built without it) and zstd needs a library Node 20 lacks.
 */
export const COMPRESSIONS = ['zlib', 'none', 'lzo', 'snappy', 'zstd'] as const;
export type CompressionName = (typeof COMPRESSIONS)[number];

/** makedumpfile's level for zlib pages (compress_mdf(..., Z_BEST_SPEED)). */
export const ZLIB_LEVEL = 1;

export const compressionFlag: Record<CompressionName, number> = {
  zlib: DUMP_DH_COMPRESSED_ZLIB,
  none: 0,
  lzo: DUMP_DH_COMPRESSED_LZO,
  snappy: DUMP_DH_COMPRESSED_SNAPPY,
  zstd: DUMP_DH_COMPRESSED_ZSTD,
};

/** The compressions this version can write. */
export const WRITABLE_COMPRESSIONS: readonly CompressionName[] = ['zlib', 'none'];

const WHY_NOT: Partial<Record<CompressionName, string>> = {
  lzo: 'lzo is read but not written yet: no pure-JavaScript LZO1X compressor ships with efikdump (the npm "lzo" package builds a native addon at install time)',
  snappy: 'snappy is not written: Debian\'s makedumpfile is built without it, so nothing here could re-read it',
  zstd: 'zstd needs a native or WebAssembly zstd library; Node 20\'s zlib has none (Node 22.15 adds zlib.zstdCompress)',
};

/** Validates a --compress value for writing. */
export function parseCompression(value: string, field = '--compress'): CompressionName {
  if (!(COMPRESSIONS as readonly string[]).includes(value)) {
    throw new ConfigError(`Unknown compression: ${value} (known: ${COMPRESSIONS.join(', ')})`, { field });
  }
  const name = value as CompressionName;
  if (!WRITABLE_COMPRESSIONS.includes(name)) throw new ConfigError(`${WHY_NOT[name]}; use --compress zlib or none`, { field });
  return name;
}

/**
 * Decompresses one page stored with page_desc.flags `flags` into exactly `pageSize` bytes. Output
 * is bounded by the page size whatever the input claims; anything else is a FormatError at `where`.
 */
export function decompressPage(flags: number, data: Uint8Array, pageSize: number, where: ErrorPlace): Uint8Array {
  const kind = flags & (DUMP_DH_COMPRESSED_ZLIB | DUMP_DH_COMPRESSED_LZO | DUMP_DH_COMPRESSED_SNAPPY | DUMP_DH_COMPRESSED_ZSTD);
  let out: Uint8Array;
  if (kind === 0) {
    out = data;
  } else if (kind === DUMP_DH_COMPRESSED_ZLIB) {
    try {
      out = inflateSync(data, { maxOutputLength: pageSize });
    } catch (e) {
      throw new FormatError('zlib page data', `a zlib stream of one ${pageSize}-byte page`, (e as Error).message, where);
    }
  } else if (kind === DUMP_DH_COMPRESSED_LZO) {
    out = lzo1xDecompress(data, pageSize, where);
  } else if (kind === DUMP_DH_COMPRESSED_SNAPPY || kind === DUMP_DH_COMPRESSED_ZSTD) {
    const name = kind === DUMP_DH_COMPRESSED_SNAPPY ? 'snappy' : 'zstd';
    throw new FormatError('page compression', 'zlib, lzo or none (this version cannot read snappy or zstd pages)', name, where);
  } else {
    throw new FormatError('page_desc.flags', 'one compression flag', `0x${flags.toString(16)}`, where);
  }
  if (out.length !== pageSize) throw new FormatError('page data', `${pageSize} bytes once decompressed`, `${out.length} bytes`, where);
  return out;
}
