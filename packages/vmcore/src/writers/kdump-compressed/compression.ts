import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { ConfigError, FormatError, IoError } from '@efikdump/core/base';
import type { ErrorPlace } from '@efikdump/core';
import { DUMP_DH_COMPRESSED_LZO, DUMP_DH_COMPRESSED_SNAPPY, DUMP_DH_COMPRESSED_ZLIB, DUMP_DH_COMPRESSED_ZSTD } from './diskdump.codec';
import { lzo1xDecompress } from './lzo1x';

/**
 * Per-page compressions of the kdump-compressed format (makedumpfile `-c`, `-l`, `-p`, `-z`).
 * We write all of them: zlib (Node's own zlib at level 1, Z_BEST_SPEED, as makedumpfile's
 * compress_mdf), lzo (LZO1X-1, a compressor of our own: lzo1x-compress.ts), zstd (zstd's C
 * library built to WebAssembly, @bokuweb/zstd-wasm, at makedumpfile's level 1), snappy (snappy-wasm)
 * and none. We read them all: zlib, lzo (a bounds-checked decoder of our own), snappy
 * (snappy-wasm), zstd (the same @bokuweb/zstd-wasm, instantiated synchronously: see zstdDecoder)
 * and none.
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

/** makedumpfile's level for zstd pages (ZSTD_compressCCtx(..., 1) in kdump_thread_function_cyclic). */
export const ZSTD_LEVEL = 1;

/** The level a codec compresses at (lzo and snappy have none). */
export const compressionLevel = (name: CompressionName): number => (name === 'zstd' ? ZSTD_LEVEL : name === 'zlib' ? ZLIB_LEVEL : 0);

/** The compressions this version can write (`none`: pages stored raw, zero pages still shared). */
export const WRITABLE_COMPRESSIONS: readonly CompressionName[] = ['zlib', 'lzo', 'zstd', 'snappy', 'none'];

/** Validates a --compress value for writing. */
export function parseCompression(value: string, field = '--compress'): CompressionName {
  if (!(COMPRESSIONS as readonly string[]).includes(value)) {
    throw new ConfigError(`Unknown compression: ${value} (known: ${COMPRESSIONS.join(', ')})`, { field });
  }
  return value as CompressionName;
}

let snappy: { decompress_raw(input: Uint8Array): Uint8Array } | undefined;

/** A snappy page: its header's length (a varint) is checked against the page size before decoding. */
function snappyDecompress(data: Uint8Array, pageSize: number, where: ErrorPlace): Uint8Array {
  let length = 0;
  let i = 0;
  for (let shift = 0; i < data.length && i < 5; shift += 7) {
    const b = data[i++];
    length += (b & 0x7f) * 2 ** shift;
    if (!(b & 0x80)) break;
  }
  if (length !== pageSize)
    throw new FormatError('snappy page data', `a snappy block of ${pageSize} bytes`, `one of ${length} bytes`, where);
  snappy ??= require('snappy-wasm') as typeof snappy;
  try {
    return snappy!.decompress_raw(data);
  } catch (e) {
    throw new FormatError('snappy page data', 'a well-formed snappy block', String((e as Error)?.message ?? e), where);
  }
}

/** The emscripten module of @bokuweb/zstd-wasm, as much of it as the page decoder calls. */
interface ZstdModule {
  HEAPU8: Uint8Array;
  calledRun?: boolean;
  instantiateWasm?: (imports: object, receive: (instance: WasmInstance) => void) => object;
  init(): void;
  _malloc(size: number): number;
  _free(ptr: number): void;
  _ZSTD_decompress(dst: number, dstCapacity: number, src: number, srcSize: number): number;
  _ZSTD_isError(code: number): number;
}

interface WasmInstance {
  exports: object;
}
/** The synchronous WebAssembly API (Node has it; this package's type libraries do not declare it). */
const wasmApi = () =>
  (
    globalThis as unknown as {
      WebAssembly: { Module: new (bytes: Uint8Array) => object; Instance: new (module: object, imports: object) => WasmInstance };
    }
  ).WebAssembly;

let zstdModule: ZstdModule | undefined;

/**
 * @bokuweb/zstd-wasm (the package the writer compresses with) loads only through an async init(),
 * and our readers are synchronous. Its emscripten module accepts an `instantiateWasm` hook, called
 * synchronously from init: we compile and instantiate its zstd.wasm there with the synchronous
 * WebAssembly API, so the module is ready when init returns. The module file is found next to the
 * package's entry point (the package exports no subpaths; it is pinned exactly in package.json).
 * The package's own decompress() is not used: it allocates the frame's declared content size,
 * which a hostile page could set to anything; ours decompresses into one page at most.
 */
function zstdDecoder(): ZstdModule {
  if (zstdModule) return zstdModule;
  const dir = dirname(require.resolve('@bokuweb/zstd-wasm'));
  const m = (require(join(dir, 'module.js')) as { Module: ZstdModule }).Module;
  if (!m.calledRun) {
    const api = wasmApi();
    const wasm = new api.Module(readFileSync(join(dir, 'zstd.wasm')));
    // One instance for good: should the package's own async init() run later in this thread, it
    // gets the same instance back instead of swapping the module's memory under our feet.
    let instance: WasmInstance | undefined;
    m.instantiateWasm = (imports, receive) => {
      instance ??= new api.Instance(wasm, imports);
      receive(instance);
      return instance.exports;
    };
    m.init();
    if (!m.calledRun) throw new Error('@bokuweb/zstd-wasm did not initialise synchronously');
  }
  zstdModule = m;
  return m;
}

/** A zstd page: one frame that decompresses into at most `pageSize` bytes (exactly that is checked by the caller). */
function zstdDecompress(data: Uint8Array, pageSize: number, where: ErrorPlace): Uint8Array {
  let z: ZstdModule;
  try {
    z = zstdDecoder();
  } catch (e) {
    throw new IoError(`cannot load the zstd decoder (@bokuweb/zstd-wasm): ${(e as Error).message}`, where);
  }
  const src = z._malloc(data.length);
  const dst = z._malloc(pageSize);
  try {
    z.HEAPU8.set(data, src);
    const n = z._ZSTD_decompress(dst, pageSize, src, data.length);
    if (z._ZSTD_isError(n))
      throw new FormatError('zstd page data', `a zstd frame of one ${pageSize}-byte page`, `zstd error code ${-n >>> 0}`, where);
    return z.HEAPU8.slice(dst, dst + n);
  } finally {
    z._free(dst);
    z._free(src);
  }
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
  } else if (kind === DUMP_DH_COMPRESSED_SNAPPY) {
    out = snappyDecompress(data, pageSize, where);
  } else if (kind === DUMP_DH_COMPRESSED_ZSTD) {
    out = zstdDecompress(data, pageSize, where);
  } else {
    throw new FormatError('page_desc.flags', 'one compression flag', `0x${flags.toString(16)}`, where);
  }
  if (out.length !== pageSize) throw new FormatError('page data', `${pageSize} bytes once decompressed`, `${out.length} bytes`, where);
  return out;
}
