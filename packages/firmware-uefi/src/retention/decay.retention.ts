import { injectable } from 'tsyringe';
import {
  GiB,
  hashString,
  mergeRanges,
  PAGE_SIZE,
  Rng,
  totalSize,
  type RetentionPolicy,
  type RetentionReport,
  type RunContext,
} from '@efikdump/core';
import { firmwareOf, overwrite, unchanged } from './retention-support';

/** More expected flips than this are not modelled bit by bit (each flip materialises a page). */
export const MAX_EXACT_FLIPS = 32768;

/**
 * DRAM decay while unpowered (domain reference §5.9, Halderman et al. 2008): random bit flips at
 * the profile's rate per GiB per second of the cold reset's power-off time; none on a warm reset,
 * where refresh continues. Seeded by the run's seed and the boot. Beyond MAX_EXACT_FLIPS the
 * whole of RAM is treated as decayed (noise), and the report says so.
 */
@injectable()
export class DecayRetention implements RetentionPolicy {
  readonly name = 'decay';

  apply(ctx: RunContext, reset: 'warm' | 'cold'): RetentionReport {
    const p = firmwareOf(ctx, this.name).profile;
    const seconds = reset === 'cold' ? p.coldPowerOffMs / 1000 : 0;
    const mem = ctx.machine.memory;
    const ramBytes = totalSize(mem.ram);
    const expected = p.decayBitFlipsPerGiBPerSecond * (ramBytes / GiB) * seconds;
    if (!(expected > 0)) return unchanged(this.name);
    const rng = new Rng(ctx.seed, hashString('retention:decay'), ctx.state.bootCount);
    const flips = Math.floor(expected) + (rng.next() < expected - Math.floor(expected) ? 1 : 0);
    if (flips === 0) return unchanged(this.name);
    if (flips > MAX_EXACT_FLIPS) {
      return overwrite(
        ctx,
        this.name,
        mem.ram,
        'anon',
        'decayed DRAM',
        `${flips} expected bit flips exceed ${MAX_EXACT_FLIPS}: all RAM treated as decayed`,
      );
    }
    const byte = new Uint8Array(1);
    const pages = new Set<number>();
    for (let i = 0; i < flips; i++) {
      let off = rng.below(ramBytes);
      const bit = rng.below(8);
      const r = mem.ram.find((x) => (off < x.end - x.start ? true : ((off -= x.end - x.start), false)))!;
      const addr = r.start + off;
      mem.read(addr, byte);
      byte[0] ^= 1 << bit;
      mem.write(addr, byte);
      pages.add(Math.floor(addr / PAGE_SIZE));
    }
    const changedRanges = mergeRanges([...pages].map((pfn) => ({ start: pfn * PAGE_SIZE, end: (pfn + 1) * PAGE_SIZE })));
    return { policy: this.name, changedRanges, changedPages: pages.size, note: `${flips} bit flips` };
  }
}
