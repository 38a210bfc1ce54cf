import { mix32 } from '../rng';
import { PAGE_SIZE } from '../units';

/**
 * What a never-written page holds. Each kind has a generator whose output is a pure function of
 * (seed, frame number, salt), shaped like the memory it stands for so that compression and
 * filtering behave as on a real machine.
 */
export const PAGE_KINDS = ['zero', 'kernel-text', 'slab', 'page-cache', 'anon'] as const;
export type GeneratedKind = (typeof PAGE_KINDS)[number];

/** Proportions of each kind in memory that nothing else claims (they need not sum to 1). */
export type PageKindMix = Partial<Record<GeneratedKind, number>>;

export const DEFAULT_PAGE_KIND_MIX: Readonly<Required<PageKindMix>> = {
  zero: 0.45,
  'kernel-text': 0.03,
  slab: 0.17,
  'page-cache': 0.2,
  anon: 0.15,
};

const CORPUS_SIZE = 256 * 1024;

/** x86-ish instruction bytes: short opcodes, ModRM, small displacements, padding runs. */
function buildCodeCorpus(): Uint8Array {
  const out = new Uint8Array(CORPUS_SIZE);
  let s = 0x1234567;
  const next = (): number => (s = mix32(s, 0xc0de));
  const opcodes = [0x48, 0x89, 0x8b, 0xe8, 0x0f, 0x85, 0x84, 0xc3, 0x55, 0x41, 0x5d, 0x31, 0xc0, 0xff, 0x74, 0x75, 0x83, 0xeb];
  for (let i = 0; i < out.length; i++) {
    const r = next();
    if ((r & 0x3f) === 0) {
      const run = Math.min(out.length - i, 4 + ((r >>> 8) % 12));
      out.fill(0xcc, i, i + run);
      i += run - 1;
    } else if ((r & 3) === 0) {
      out[i] = (r >>> 8) & 0xff;
    } else {
      out[i] = opcodes[(r >>> 8) % opcodes.length];
    }
  }
  return out;
}

/** Text such as a page cache holds: words, spaces, newlines. */
function buildTextCorpus(): Uint8Array {
  const words = [
    'the',
    'kernel',
    'memory',
    'page',
    'dump',
    'crash',
    'firmware',
    'reset',
    'device',
    'driver',
    'config',
    'return',
    'static',
    'struct',
    'include',
    'linux',
    'efi',
    'boot',
    'error',
    'value',
    'of',
    'and',
    'to',
    'in',
    'is',
    'for',
    'with',
    'that',
    'this',
    'data',
    'file',
    'system',
    'user',
    'process',
    'int',
    'void',
  ];
  const out = new Uint8Array(CORPUS_SIZE);
  let s = 0x7e57;
  let i = 0;
  while (i < out.length) {
    s = mix32(s, 0x7e47);
    const w = words[s % words.length];
    for (let k = 0; k < w.length && i < out.length; k++) out[i++] = w.charCodeAt(k);
    if (i < out.length) out[i++] = (s >>> 16) % 11 === 0 ? 0x0a : 0x20;
  }
  return out;
}

// Built on first use: every command loads this module, few generate pages (start-up, docs/performance.md).
let CODE: Uint8Array | undefined;
let TEXT: Uint8Array | undefined;

function copyFromCorpus(corpus: Uint8Array, h: number, dst: Uint8Array): void {
  const off = (h % (CORPUS_SIZE - PAGE_SIZE)) & ~15;
  dst.set(corpus.subarray(off, off + PAGE_SIZE));
}

/** Fills `dst` with pseudo-random bytes from a xorshift stream. */
function fillRandom(h: number, dst: Uint8Array): void {
  let x = h | 1;
  const n = dst.length & ~3;
  const view = dst.byteOffset % 4 === 0 ? new Uint32Array(dst.buffer, dst.byteOffset, n >>> 2) : undefined;
  if (view) {
    for (let i = 0; i < view.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      view[i] = x;
    }
    return;
  }
  for (let i = 0; i < n; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    dst[i] = x & 0xff;
    dst[i + 1] = (x >>> 8) & 0xff;
    dst[i + 2] = (x >>> 16) & 0xff;
    dst[i + 3] = x >>> 24;
  }
}

/** Slab-like objects: mostly zero, with kernel pointers and small integers in each 64-byte object. */
function fillSlab(h: number, dst: Uint8Array): void {
  dst.fill(0);
  const view = new DataView(dst.buffer, dst.byteOffset, dst.length);
  let x = h | 1;
  for (let obj = 0; obj < PAGE_SIZE; obj += 64) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    // a pointer into the direct map (0xffff8880_xxxxxxxx), a refcount, and a flags word
    view.setUint32(obj, (x & 0xfffffff0) >>> 0, true);
    view.setUint32(obj + 4, 0xffff8880, true);
    view.setUint32(obj + 8, 1 + (x >>> 28), true);
    if (x & 0x100) view.setUint32(obj + 16, x >>> 8, true);
  }
}

/**
 * Writes the content of a never-written page of `kind` into `dst` (PAGE_SIZE bytes).
 * Every non-zero kind carries a frame stamp in its first 8 bytes so that two frames never hold
 * the same bytes: a page read from the wrong address is always caught by its digest.
 */
export function generatePage(kind: GeneratedKind, seed: number, pfn: number, salt: number, dst: Uint8Array): void {
  const h = mix32(seed, pfn, salt);
  switch (kind) {
    case 'zero':
      dst.fill(0, 0, PAGE_SIZE);
      return;
    case 'kernel-text':
      copyFromCorpus((CODE ??= buildCodeCorpus()), h, dst);
      break;
    case 'page-cache':
      copyFromCorpus((TEXT ??= buildTextCorpus()), h, dst);
      break;
    case 'slab':
      fillSlab(h, dst);
      break;
    case 'anon':
      fillRandom(h, dst);
      break;
  }
  const lo = pfn >>> 0;
  const hi = Math.floor(pfn / 0x100000000);
  dst[0] = lo & 0xff;
  dst[1] = (lo >>> 8) & 0xff;
  dst[2] = (lo >>> 16) & 0xff;
  dst[3] = lo >>> 24;
  dst[4] = hi & 0xff;
  dst[5] = (hi >>> 8) & 0xff;
  dst[6] = h & 0xff;
  dst[7] = (h >>> 8) | 1;
}
