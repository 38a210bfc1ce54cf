/**
 * Reed–Solomon over GF(2^8) with the polynomial 0x11d and generator α = 2, as ramoops uses it
 * (Linux fs/pstore/ram_core.c: init_rs(8, 0x11d, 0, 1, ecc_size)): `nsym` parity bytes per block
 * correct up to nsym/2 corrupted bytes anywhere in the block. First consecutive root α^0.
 */
const EXP = new Uint8Array(512);
const LOG = new Uint8Array(256);
(() => {
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
  for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255];
})();

const mul = (a: number, b: number): number => (a === 0 || b === 0 ? 0 : EXP[LOG[a] + LOG[b]]);
const div = (a: number, b: number): number => (a === 0 ? 0 : EXP[LOG[a] + 255 - LOG[b]]);
const pow = (a: number, n: number): number => (a === 0 ? 0 : EXP[(((LOG[a] * n) % 255) + 255) % 255]);

/** Generator polynomial Π (x − α^i), i < nsym, highest degree first. */
function generator(nsym: number): Uint8Array {
  let g = new Uint8Array([1]);
  for (let i = 0; i < nsym; i++) {
    const next = new Uint8Array(g.length + 1);
    const root = EXP[i];
    for (let j = 0; j < g.length; j++) {
      next[j] ^= g[j];
      next[j + 1] ^= mul(g[j], root);
    }
    g = next;
  }
  return g;
}
const GENERATORS = new Map<number, Uint8Array>();
function generatorFor(nsym: number): Uint8Array {
  let g = GENERATORS.get(nsym);
  if (!g) GENERATORS.set(nsym, (g = generator(nsym)));
  return g;
}

function checkSizes(dataLength: number, nsym: number): void {
  if (!Number.isInteger(nsym) || nsym < 2 || nsym % 2 || dataLength < 1 || dataLength + nsym > 255) {
    throw new RangeError(`Reed–Solomon block of ${dataLength} data and ${nsym} parity bytes does not fit GF(2^8)`);
  }
}

/** Parity bytes for `data` (the remainder of data(x)·x^nsym divided by the generator). */
export function rsEncode(data: Uint8Array, nsym: number): Uint8Array {
  checkSizes(data.length, nsym);
  const g = generatorFor(nsym);
  const rem = new Uint8Array(nsym);
  for (const byte of data) {
    const factor = byte ^ rem[0];
    rem.copyWithin(0, 1);
    rem[nsym - 1] = 0;
    if (factor !== 0) for (let j = 0; j < nsym; j++) rem[j] ^= mul(g[j + 1], factor);
  }
  return rem;
}

/** Syndromes S_i = c(α^i) of the codeword data‖parity (highest degree first). */
function syndromes(codeword: Uint8Array, nsym: number): Uint8Array {
  const s = new Uint8Array(nsym);
  for (let i = 0; i < nsym; i++) {
    const x = EXP[i];
    let y = 0;
    for (const c of codeword) y = mul(y, x) ^ c;
    s[i] = y;
  }
  return s;
}

/** Evaluates a polynomial given lowest degree first. */
function evalLow(p: number[], x: number): number {
  let y = 0;
  for (let i = p.length - 1; i >= 0; i--) y = mul(y, x) ^ p[i];
  return y;
}

/**
 * Corrects `data` in place from its `parity` (also corrected in place). Returns the number of
 * bytes corrected, or -1 when the block has more errors than the code can correct.
 */
export function rsDecode(data: Uint8Array, parity: Uint8Array): number {
  const nsym = parity.length;
  checkSizes(data.length, nsym);
  const n = data.length + nsym;
  const codeword = new Uint8Array(n);
  codeword.set(data);
  codeword.set(parity, data.length);
  const s = syndromes(codeword, nsym);
  if (s.every((x) => x === 0)) return 0;

  // Berlekamp–Massey: the error locator Λ(x), lowest degree first.
  let lambda = [1];
  let prev = [1];
  let L = 0;
  let m = 1;
  let b = 1;
  for (let r = 0; r < nsym; r++) {
    let d = s[r];
    for (let i = 1; i <= L; i++) d ^= mul(lambda[i] ?? 0, s[r - i]);
    if (d === 0) {
      m++;
      continue;
    }
    const coef = div(d, b);
    const next = lambda.slice();
    for (let i = 0; i < prev.length; i++) {
      while (next.length <= i + m) next.push(0);
      next[i + m] ^= mul(coef, prev[i]);
    }
    if (2 * L <= r) {
      prev = lambda;
      L = r + 1 - L;
      b = d;
      m = 1;
    } else {
      m++;
    }
    lambda = next;
  }
  if (2 * L > nsym) return -1;

  // Chien search: degree k holds an error when Λ(α^-k) = 0.
  const positions: number[] = [];
  for (let k = 0; k < n; k++) if (evalLow(lambda, pow(2, -k)) === 0) positions.push(k);
  if (positions.length !== L) return -1;

  // Forney: e_k = X·Ω(X⁻¹) / Λ'(X⁻¹), with Ω = S·Λ mod x^nsym (first root α^0).
  const omega = new Array<number>(nsym).fill(0);
  for (let i = 0; i < nsym; i++) for (let j = 0; j < lambda.length && i + j < nsym; j++) omega[i + j] ^= mul(s[i], lambda[j]);
  const derivative = lambda.map((c, i) => (i % 2 === 1 ? c : 0)).slice(1);
  for (const k of positions) {
    const x = pow(2, k);
    const xInv = pow(2, -k);
    const denom = evalLow(derivative, xInv);
    if (denom === 0) return -1;
    codeword[n - 1 - k] ^= mul(x, div(evalLow(omega, xInv), denom));
  }
  if (syndromes(codeword, nsym).some((x) => x !== 0)) return -1;
  data.set(codeword.subarray(0, data.length));
  parity.set(codeword.subarray(data.length));
  return positions.length;
}
