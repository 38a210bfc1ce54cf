import { createHash } from 'node:crypto';
import { EFI_VARIABLE as A, GiB, MiB, PAGE_SIZE, TiB, type RetentionPolicy, type RunContext } from '@efikdump/core';
import { firmwareContext } from '../testing/firmware-context';
import { DEFAULT_FIRMWARE_PROFILE } from '../profiles/firmware-profiles';
import { buildMemoryMap } from '../memory-map/platform-memory-map';
import { MEMORY_OVERWRITE_CONTROL_GUID, MOR_NAME } from '../variables/well-known';
import { VariableStore } from '../variables/variable-store';
import { DecayRetention, MAX_EXACT_FLIPS } from './decay.retention';
import { EccReinitRetention } from './ecc-reinit.retention';
import { FirmwareScratchRetention, resolveScratchRanges } from './firmware-scratch.retention';
import { MorRetention } from './mor.retention';
import { RetainAllRetention } from './retain-all.retention';
import { ScrubAllRetention } from './scrub-all.retention';

const sha = (ctx: RunContext, pfn: number) => ctx.machine.memory.pageSha256(pfn);
const ramPages = (ctx: RunContext) => ctx.machine.memory.ram.reduce((s, r) => s + (r.end - r.start) / PAGE_SIZE, 0);

/** Applies the policy and checks its report against the frames that really changed, on a sample. */
function applyAndCheck(ctx: RunContext, policy: RetentionPolicy, reset: 'warm' | 'cold', samplePfns: number[]) {
  const before = samplePfns.map((p) => sha(ctx, p));
  const report = policy.apply(ctx, reset);
  const inReport = (pfn: number) => report.changedRanges.some((r) => pfn * PAGE_SIZE >= r.start && pfn * PAGE_SIZE < r.end);
  samplePfns.forEach((pfn, i) => {
    if (!inReport(pfn)) expect(sha(ctx, pfn)).toBe(before[i]);
  });
  expect(report.changedPages).toBe(report.changedRanges.reduce((s, r) => s + (r.end - r.start) / PAGE_SIZE, 0));
  return { report, before };
}

const sample = (ctx: RunContext) => {
  const out: number[] = [];
  for (const r of ctx.machine.memory.ram) for (let a = r.start; a < r.end; a += 7 * MiB + 12 * PAGE_SIZE) out.push(a / PAGE_SIZE);
  return out;
};

describe('retention policies report exactly the frames they change', () => {
  it('retain-all changes nothing', () => {
    const { ctx } = firmwareContext();
    expect(applyAndCheck(ctx, new RetainAllRetention(), 'warm', sample(ctx)).report).toEqual({
      policy: 'retain-all',
      changedRanges: [],
      changedPages: 0,
    });
  });

  it('scrub-all zeroes all RAM on any reset', () => {
    const { ctx } = firmwareContext();
    const { report } = applyAndCheck(ctx, new ScrubAllRetention(), 'warm', sample(ctx));
    expect(report.changedPages).toBe(ramPages(ctx));
    for (const pfn of sample(ctx)) expect(ctx.machine.memory.isZeroPage(pfn)).toBe(true);
  });

  it('mor wipes all RAM only while MemoryOverwriteRequestControl has ClearMemory set (TCG PRAM, domain reference §5.8)', () => {
    const { ctx } = firmwareContext({ profile: 'server' });
    const mor = new MorRetention();
    expect(mor.apply(ctx).changedPages).toBe(0);
    const fw = ctx.state.firmware!;
    new VariableStore(fw.nvram, fw.profile).set(
      MOR_NAME,
      MEMORY_OVERWRITE_CONTROL_GUID,
      A.NON_VOLATILE | A.BOOTSERVICE_ACCESS | A.RUNTIME_ACCESS,
      Uint8Array.of(1),
      { atRuntime: true },
    );
    expect(applyAndCheck(ctx, mor, 'warm', sample(ctx)).report.changedPages).toBe(ramPages(ctx));
    // A firmware without the variable (ovmf profile) never wipes.
    const { ctx: ovmf } = firmwareContext({ profile: 'ovmf' });
    expect(mor.apply(ovmf).changedPages).toBe(0);
  });

  it("firmware-scratch overwrites the profile's ranges and nothing else", () => {
    const { ctx, profile } = firmwareContext({ profile: 'laptop', ramBytes: 4 * GiB });
    const expected = resolveScratchRanges(profile.scratch, buildMemoryMap(4 * GiB), ctx.machine.memory.ram);
    expect(expected.map((e) => e.label)).toHaveLength(4);
    expect(expected[0].ranges).toEqual([{ start: 0, end: 640 * 1024 }]);
    const probes = [...sample(ctx), 0x9f, 0xa0, 0];
    const { report, before } = applyAndCheck(ctx, new FirmwareScratchRetention(), 'warm', probes);
    expect(report.changedRanges[0]).toEqual({ start: 0, end: 640 * 1024 });
    expect(sha(ctx, 0x9f)).not.toBe(before[probes.indexOf(0x9f)]);
    expect(sha(ctx, 0xa0)).toBe(before[probes.indexOf(0xa0)]);
  });

  it('the default firmware (ovmf) changes pages across the reset: the measured loader-entry ranges, mapped onto the size', () => {
    for (const ramBytes of [256 * MiB, GiB, 4 * GiB]) {
      const { ctx } = firmwareContext({ profile: DEFAULT_FIRMWARE_PROFILE, ramBytes });
      const top = Math.min(ramBytes, 2 * GiB);
      const lowPfn = 0x1000000 / PAGE_SIZE;
      const topPfn = (0x3bb85000 + top - GiB) / PAGE_SIZE;
      const probes = [...sample(ctx), lowPfn, 0x16e1000 / PAGE_SIZE, topPfn, topPfn - 1];
      const { report, before } = applyAndCheck(ctx, new FirmwareScratchRetention(), 'warm', probes);
      expect(report.changedPages).toBeGreaterThan(0);
      expect(report.changedRanges[0].start).toBe(0x1000000);
      expect(sha(ctx, lowPfn)).not.toBe(before[probes.indexOf(lowPfn)]);
      expect(sha(ctx, 0x16e1000 / PAGE_SIZE)).toBe(before[probes.indexOf(0x16e1000 / PAGE_SIZE)]);
      expect(sha(ctx, topPfn)).not.toBe(before[probes.indexOf(topPfn)]);
      expect(sha(ctx, topPfn - 1)).toBe(before[probes.indexOf(topPfn - 1)]);
    }
  });

  it('ecc-reinit zeroes RAM on cold resets, and on warm ones only where the profile says so', () => {
    const { ctx } = firmwareContext({ profile: 'server' });
    expect(new EccReinitRetention().apply(ctx, 'warm').changedPages).toBe(0);
    expect(applyAndCheck(ctx, new EccReinitRetention(), 'cold', sample(ctx)).report.changedPages).toBe(ramPages(ctx));
    const { ctx: both } = firmwareContext({ profile: 'server', overrides: { eccReinit: 'cold-and-warm' } });
    expect(new EccReinitRetention().apply(both, 'warm').changedPages).toBe(ramPages(both));
    const { ctx: never } = firmwareContext({ profile: 'ovmf' });
    expect(new EccReinitRetention().apply(never, 'cold').changedPages).toBe(0);
  });
});

describe('decay (domain reference §5.9)', () => {
  const decaying = (seed: number, rate: number, offMs = 1000) =>
    firmwareContext({ seed, ramBytes: GiB, overrides: { decayBitFlipsPerGiBPerSecond: rate, coldPowerOffMs: offMs } }).ctx;

  it('flips nothing on a warm reset (refresh continues) or without power-off time', () => {
    expect(new DecayRetention().apply(decaying(1, 1000), 'warm').changedPages).toBe(0);
    expect(new DecayRetention().apply(decaying(1, 1000, 0), 'cold').changedPages).toBe(0);
  });

  it('flips rate x GiB x seconds bits, one per changed byte, in exactly the pages it reports; seeded', () => {
    const a = decaying(7, 500, 2000);
    const fresh = decaying(7, 500, 2000);
    const r = new DecayRetention().apply(a, 'cold');
    // 1 GiB less the legacy hole: 999.6 expected flips.
    expect(r.note).toMatch(/^(999|1000) bit flips$/);
    expect(r.changedPages).toBeGreaterThan(990);
    let bits = 0;
    const x = new Uint8Array(PAGE_SIZE);
    const y = new Uint8Array(PAGE_SIZE);
    for (const range of r.changedRanges) {
      for (let addr = range.start; addr < range.end; addr += PAGE_SIZE) {
        a.machine.memory.readPage(addr / PAGE_SIZE, x);
        fresh.machine.memory.readPage(addr / PAGE_SIZE, y);
        for (let i = 0; i < PAGE_SIZE; i++) {
          let d = x[i] ^ y[i];
          while (d) {
            bits += d & 1;
            d >>= 1;
          }
        }
      }
    }
    expect(bits).toBeLessThanOrEqual(1000);
    expect(bits).toBeGreaterThan(990);
    expect(new DecayRetention().apply(decaying(7, 500, 2000), 'cold')).toEqual(r);
    expect(new DecayRetention().apply(decaying(8, 500, 2000), 'cold').changedRanges).not.toEqual(r.changedRanges);
  });

  it('treats all RAM as decayed beyond exact modelling, and says so', () => {
    const ctx = decaying(1, MAX_EXACT_FLIPS * 2);
    const r = new DecayRetention().apply(ctx, 'cold');
    expect(r.changedPages).toBe(ramPages(ctx));
    expect(r.note).toMatch(/all RAM treated as decayed/);
    expect(ctx.machine.memory.overlayPages).toBe(0);
  });
});

describe('retention on a 1 TiB machine stays cheap (whole ranges are filled, not written)', () => {
  it('scrub, ECC, scratch and MOR cost no page memory', () => {
    const { ctx } = firmwareContext({ profile: 'server', ramBytes: TiB, overrides: { mor: 'set-by-os' } });
    const fw = ctx.state.firmware!;
    new VariableStore(fw.nvram, fw.profile).set(MOR_NAME, MEMORY_OVERWRITE_CONTROL_GUID, 7, Uint8Array.of(1), { atRuntime: false });
    const t = Date.now();
    for (const p of [new FirmwareScratchRetention(), new EccReinitRetention(), new ScrubAllRetention(), new MorRetention()])
      p.apply(ctx, 'cold');
    expect(Date.now() - t).toBeLessThan(2000);
    expect(ctx.machine.memory.overlayPages).toBe(0);
    expect(createHash('sha256').update(new Uint8Array(PAGE_SIZE)).digest('hex')).toBe(sha(ctx, 2 ** 27));
  });
});
