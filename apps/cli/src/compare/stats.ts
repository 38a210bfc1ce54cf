/** z for a two-sided 95 % interval: the 0.975 quantile of the standard normal. */
export const Z95 = 1.959963984540054;

/** Rounds to 6 decimals so figures are stable text in the JSON document. */
export const round6 = (x: number): number => Math.round(x * 1e6) / 1e6;

/**
 * Wilson score interval for `successes` out of `n` trials (Wilson 1927; Agresti & Coull 1998):
 * centre (p + z²/2n) / (1 + z²/n), half-width z·sqrt(p(1−p)/n + z²/4n²) / (1 + z²/n). n = 0 gives [0, 1].
 */
export function wilsonInterval(successes: number, n: number, z = Z95): [number, number] {
  if (n === 0) return [0, 1];
  const p = successes / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denom;
  // The ends are exact at 0/n and n/n (the formula leaves rounding dust there).
  return [successes === 0 ? 0 : Math.max(0, centre - half), successes === n ? 1 : Math.min(1, centre + half)];
}

/** Nearest-rank percentile (q in (0, 1]) of ascending `sorted`: the value at rank ceil(q·n). */
export function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) throw new RangeError('percentile of an empty sample');
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1];
}

/** Median: the mean of the two middle values for an even count. */
export function median(sorted: number[]): number {
  if (sorted.length === 0) throw new RangeError('median of an empty sample');
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** JSON with object keys sorted at every level: the same value always gives the same bytes. */
export function stableStringify(value: unknown, indent = 2): string {
  const sortKeys = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sortKeys);
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      return Object.fromEntries(
        Object.keys(o)
          .sort()
          .filter((k) => o[k] !== undefined)
          .map((k) => [k, sortKeys(o[k])]),
      );
    }
    return v;
  };
  return JSON.stringify(sortKeys(value), null, indent) + '\n';
}
