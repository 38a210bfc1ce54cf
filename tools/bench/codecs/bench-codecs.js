#!/usr/bin/env node
'use strict';
/**
 * Per-page compression speed and size of the candidate codec implementations, on the non-zero,
 * not random-looking pages of an ELF vmcore (what the kdump-compressed writer's workers compress).
 *
 *   node tools/bench/codecs/bench-codecs.js VMCORE [--pages N] [--rounds N] [--only NAME,...]
 *
 * Candidates whose package is not installed are skipped (list them with --list). Each round runs
 * every candidate once over the same pages, in order, so that load from elsewhere falls on all of
 * them; the median µs per page over the rounds is reported, with the total output against the input.
 */
const { openSync, readSync, fstatSync } = require('node:fs');
const zlib = require('node:zlib');
const { resolve, join } = require('node:path');

const REPO = resolve(__dirname, '../../..');
const PAGE = 4096;

function args(argv) {
  const o = { pages: 20000, rounds: 3, only: undefined, file: undefined };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--pages') o.pages = Number(argv[++i]);
    else if (argv[i] === '--rounds') o.rounds = Number(argv[++i]);
    else if (argv[i] === '--only') o.only = argv[++i].split(',');
    else o.file = argv[i];
  }
  if (!o.file) throw new Error('usage: bench-codecs.js VMCORE [--pages N] [--rounds N] [--only NAME,...]');
  return o;
}

/** Up to `want` pages spread over the file, skipping zero and random-looking ones (as the writer does). */
function samplePages(file, want) {
  const { isZeroRange, looksRandom } = require(join(REPO, 'packages/vmcore/dist/writers/page-content.js'));
  const fd = openSync(file, 'r');
  const total = Math.floor(fstatSync(fd).size / PAGE);
  const chunk = Buffer.alloc(256 * PAGE);
  const zero = Buffer.alloc(PAGE);
  const picked = [];
  for (let at = 0; at < total && picked.length < want * 4; at += 256) {
    const n = readSync(fd, chunk, 0, chunk.length, at * PAGE);
    for (let i = 0; i + PAGE <= n; i += PAGE) {
      if (isZeroRange(chunk, i, PAGE, zero) || looksRandom(chunk, i, PAGE)) continue;
      picked.push(Buffer.from(chunk.subarray(i, i + PAGE)));
    }
  }
  const step = Math.max(1, Math.floor(picked.length / want));
  const out = Buffer.alloc(Math.min(want, Math.ceil(picked.length / step)) * PAGE);
  for (let k = 0, j = 0; j < picked.length && k * PAGE < out.length; j += step, k++) picked[j].copy(out, k * PAGE);
  return out;
}

const tryRequire = (name) => {
  try {
    return require(require.resolve(name, { paths: [REPO, process.cwd()] }));
  } catch {
    return undefined;
  }
};

async function candidates() {
  const list = [];
  const { lzo1x1Compress, LZO1X1_DICT_ENTRIES, lzo1xBound } = require(
    join(REPO, 'packages/vmcore/dist/writers/kdump-compressed/lzo1x-compress.js'),
  );
  const dict = new Int32Array(LZO1X1_DICT_ENTRIES);
  const lzoOut = Buffer.alloc(lzo1xBound(PAGE));
  let base = 1;
  list.push({
    name: 'lzo1x-1 (efikdump, TypeScript)',
    codec: 'lzo',
    run: (src, at) => {
      if (base > 0x7fff0000) {
        dict.fill(0);
        base = 1;
      }
      const n = lzo1x1Compress(src, at, PAGE, lzoOut, dict, base);
      base += PAGE;
      return n;
    },
  });
  list.push({
    name: 'zlib level 1 deflateSync (Node)',
    codec: 'zlib',
    run: (src, at) => zlib.deflateSync(src.subarray(at, at + PAGE), { level: 1 }).length,
  });
  const snappy = tryRequire('snappy');
  if (snappy)
    list.push({
      name: 'snappy (napi-rs native) compressSync',
      codec: 'snappy',
      run: (src, at) => snappy.compressSync(src.subarray(at, at + PAGE)).length,
    });
  const snappyjs = tryRequire('snappyjs');
  if (snappyjs)
    list.push({ name: 'snappyjs (pure JS)', codec: 'snappy', run: (src, at) => snappyjs.compress(src.subarray(at, at + PAGE)).length });
  const snappyWasm = tryRequire('snappy-wasm');
  if (snappyWasm?.compress_raw)
    list.push({
      name: 'snappy-wasm compress_raw',
      codec: 'snappy',
      run: (src, at) => snappyWasm.compress_raw(src.subarray(at, at + PAGE)).length,
    });
  const bokuweb = tryRequire('@bokuweb/zstd-wasm');
  if (bokuweb) {
    await bokuweb.init();
    const { Module } = require(
      join(require('node:path').dirname(require.resolve('@bokuweb/zstd-wasm', { paths: [REPO, process.cwd()] })), 'module.js'),
    );
    for (const level of [1, 3])
      list.push({
        name: `@bokuweb/zstd-wasm compress level ${level}`,
        codec: 'zstd',
        run: (src, at) => bokuweb.compress(src.subarray(at, at + PAGE), level).length,
      });
    {
      const cctx = bokuweb.createCCtx();
      const empty = new Uint8Array(0);
      list.push({
        name: '@bokuweb/zstd-wasm compressUsingDict (public API), reused CCtx, level 1',
        codec: 'zstd',
        run: (src, at) => bokuweb.compressUsingDict(cctx, src.subarray(at, at + PAGE), empty, 1).length,
      });
    }
    if (Module) {
      // The same WebAssembly build called directly: one CCtx and one input/output area for all pages.
      const cctx = Module._ZSTD_createCCtx();
      const bound = Module._ZSTD_compressBound(PAGE);
      const srcPtr = Module._malloc(PAGE);
      const dstPtr = Module._malloc(bound);
      for (const level of [1, 3]) {
        list.push({
          name: `@bokuweb/zstd-wasm, reused CCtx, level ${level}`,
          codec: 'zstd',
          run: (src, at) => {
            Module.HEAPU8.set(src.subarray(at, at + PAGE), srcPtr);
            return Module._ZSTD_compress_usingDict(cctx, dstPtr, bound, srcPtr, PAGE, 0, 0, level);
          },
        });
      }
    }
  }
  try {
    const url = require('node:url').pathToFileURL(require.resolve('@hpcc-js/wasm-zstd', { paths: [REPO, process.cwd()] })).href;
    const { Zstd } = await import(url);
    const z = await Zstd.load();
    for (const level of [1, 3])
      list.push({
        name: `@hpcc-js/wasm-zstd level ${level}`,
        codec: 'zstd',
        run: (src, at) => z.compress(src.subarray(at, at + PAGE), level).length,
      });
  } catch {
    /* not installed */
  }
  return list;
}

async function main() {
  const o = args(process.argv.slice(2));
  const pages = samplePages(o.file, o.pages);
  const count = pages.length / PAGE;
  let list = await candidates();
  if (o.only) list = list.filter((c) => o.only.some((w) => c.name.includes(w)));
  const times = new Map(list.map((c) => [c, []]));
  const sizes = new Map();
  for (let r = 0; r < o.rounds; r++) {
    for (const c of list) {
      let bytes = 0;
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < count; i++) {
        const n = c.run(pages, i * PAGE);
        bytes += n < PAGE ? n : PAGE; // stored raw when it does not shrink
      }
      times.get(c).push(Number(process.hrtime.bigint() - t0) / 1e3 / count);
      sizes.set(c, bytes);
    }
  }
  console.log(`${count} pages (non-zero, not random-looking) of ${o.file}; node ${process.version}; ${o.rounds} rounds`);
  console.table(
    list.map((c) => {
      const t = times
        .get(c)
        .slice()
        .sort((a, b) => a - b);
      const med = t[Math.floor(t.length / 2)];
      return {
        codec: c.codec,
        implementation: c.name,
        'µs/page (median)': med.toFixed(1),
        'MB/s': (PAGE / med).toFixed(0),
        'output/input': (sizes.get(c) / pages.length).toFixed(3),
      };
    }),
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
