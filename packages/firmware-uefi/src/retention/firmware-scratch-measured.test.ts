import { join } from 'node:path';
import {
  ConfigError,
  GiB,
  intersectRanges,
  MiB,
  PAGE_SIZE,
  parseFirmwareProfile,
  readJsonFile,
  systemRamFromMemoryMap,
  type PhysRange,
} from '@efikdump/core';
import { firmwareContext } from '../testing/firmware-context';
import { profileMemoryMap } from '../memory-map/platform-memory-map';
import { readRetentionProfile } from '../probe/retention-profile';
import { deriveRetentionScaling, predictOverwritten } from '../probe/retention-scaling';
import { PROFILES_DIR, loadFirmwareProfile } from '../profiles/firmware-profiles';
import { FirmwareScratchRetention } from './firmware-scratch.retention';

const MEASURED = join(PROFILES_DIR, 'measured/ovmf-retention.json');
const rule = deriveRetentionScaling(readRetentionProfile(MEASURED).measurements, 'warm');
const inside = (ranges: readonly PhysRange[], pfn: number) => ranges.some((r) => pfn * PAGE_SIZE >= r.start && pfn * PAGE_SIZE < r.end);

/** The memory map the ovmf-measured firmware gives (the probe's measured map, mapped onto the size). */
const mapOf = (ramBytes: number) => profileMemoryMap(loadFirmwareProfile('ovmf-measured'), ramBytes);

/** The System RAM part of what the measured rule predicts for this size on that memory map. */
function expectedRanges(ramBytes: number): PhysRange[] {
  const predicted = predictOverwritten(rule, ramBytes).map((r) => ({ start: r.start, end: r.end }));
  return intersectRanges(predicted, systemRamFromMemoryMap(mapOf(ramBytes)));
}

/** Pages on both sides of every predicted range's edges, and a grid over all RAM. */
function samplePfns(ramBytes: number, ram: readonly PhysRange[]): number[] {
  const out = new Set<number>();
  for (const r of predictOverwritten(rule, ramBytes))
    for (const a of [r.start - PAGE_SIZE, r.start, r.end - PAGE_SIZE, r.end]) out.add(a / PAGE_SIZE);
  for (const r of ram) for (let a = r.start; a < r.end; a += 3 * MiB + 5 * PAGE_SIZE) out.add(a / PAGE_SIZE);
  return [...out].filter((pfn) => ram.some((r) => pfn * PAGE_SIZE >= r.start && pfn * PAGE_SIZE < r.end)).sort((a, b) => a - b);
}

describe('firmware-scratch with a measured retention profile (ovmf-measured)', () => {
  test('ovmf-measured has every ovmf field, its scratch taken from the committed measurement, and a source naming it and the command', () => {
    const ovmf = loadFirmwareProfile('ovmf');
    const measured = loadFirmwareProfile('ovmf-measured');
    expect(Object.keys(measured).sort()).toEqual(Object.keys(ovmf).sort());
    expect(measured.scratch).toEqual([{ label: expect.any(String), measured: 'measured/ovmf-retention.json', reset: 'as-reset' }]);
    expect(measured.sourceOf.scratch).toMatch(/profiles\/measured\/ovmf-retention\.json/);
    expect(measured.sourceOf.scratch).toMatch(/efikdump\.js probe retention --firmware ovmf --memory 256MiB,1GiB/);
    const { scratch: _a, name: _b, description: _c, source: _d, sourceOf: _e, ...rest } = measured;
    const { scratch: _f, name: _g, description: _h, source: _i, sourceOf: _j, ...restOvmf } = ovmf;
    expect(rest).toEqual(restOvmf);
  });

  test('unknown fields in a measured scratch entry, a bad reset or a path outside profiles/measured are errors', () => {
    const doc = readJsonFile(join(PROFILES_DIR, 'ovmf-measured.json')) as Record<string, unknown>;
    const withScratch = (entry: unknown) => ({ ...doc, scratch: [entry] });
    const fieldOf = (d: unknown) => {
      try {
        parseFirmwareProfile(d, 'x.json');
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as ConfigError).field;
      }
      throw new Error('parsed');
    };
    expect(fieldOf(withScratch({ label: 'm', measured: 'measured/ovmf-retention.json', reset: 'warm', scale: 2 }))).toMatch(
      /^scratch\[0\]/,
    );
    expect(fieldOf(withScratch({ label: 'm', measured: 'measured/ovmf-retention.json', reset: 'hot' }))).toBe('scratch[0].reset');
    expect(fieldOf(withScratch({ label: 'm', measured: '../../etc/passwd.json', reset: 'warm' }))).toBe('scratch[0].measured');
    expect(fieldOf({ ...doc, retentionProfile: 'measured/ovmf-retention.json' })).toBe('retentionProfile');
  });

  test.each([
    ['256MiB', 256 * MiB],
    ['1GiB', GiB],
    ['512MiB (not measured by this file; ovmf-retention-sizes.json agrees)', 512 * MiB],
    ['3GiB (top of RAM under 4 GiB is 2 GiB; RAM above 4 GiB untouched)', 3 * GiB],
  ])(
    'at %s the sampled pages that change are exactly the System RAM pages inside the predicted ranges, and the retention map reports them',
    (_label, ramBytes) => {
      const { ctx } = firmwareContext({ profile: 'ovmf-measured', ramBytes });
      const ram = ctx.machine.memory.ram;
      const pfns = samplePfns(ramBytes, ram);
      const before = pfns.map((p) => ctx.machine.memory.pageSha256(p));
      const report = new FirmwareScratchRetention().apply(ctx);
      const expected = expectedRanges(ramBytes);
      expect(report.policy).toBe('firmware-scratch');
      expect(report.changedRanges).toEqual(expected);
      expect(report.changedPages).toBe(expected.reduce((s, r) => s + (r.end - r.start) / PAGE_SIZE, 0));
      const changed = pfns.filter((p, i) => ctx.machine.memory.pageSha256(p) !== before[i]);
      expect(changed).toEqual(pfns.filter((p) => inside(expected, p)));
      // Pages the firmware wrote outside the OS's memory (runtime, ACPI, reserved in the model's map) do not count.
      const systemRam = systemRamFromMemoryMap(mapOf(ramBytes));
      for (const p of pfns) if (inside(predictOverwritten(rule, ramBytes), p) && !inside(systemRam, p)) expect(changed).not.toContain(p);
      expect(changed.length).toBeGreaterThan(0);
      if (ramBytes > 2816 * MiB) expect(changed.every((p) => p * PAGE_SIZE < 2 * GiB)).toBe(true);
    },
  );

  test('the measured low ranges stay at fixed addresses and the rest move with the top of RAM under 4 GiB', () => {
    const small = expectedRanges(256 * MiB);
    const large = expectedRanges(GiB);
    const low = (rs: PhysRange[]) => rs.filter((r) => r.end <= 0x1800000);
    expect(low(small)).toEqual(low(large));
    expect(low(small)[0]).toEqual({ start: 0, end: PAGE_SIZE });
    const shift = (rs: PhysRange[], top: number) => rs.filter((r) => r.end > 0x1800000).map((r) => [top - r.start, top - r.end]);
    // The measured memory map keeps its firmware regions at the top too, so the System RAM parts keep the same distance.
    expect(shift(small, 256 * MiB)).toEqual(shift(large, GiB));
  });
});
