import { join } from 'node:path';
import { GiB, MiB, PAGE_SIZE } from '@efikdump/core';
import {
  deriveRetentionScaling,
  describeScaling,
  measurementOf,
  predictOverwritten,
  readRetentionProfile,
  type ProfileRange,
  type RetentionRun,
} from '@efikdump/firmware-uefi';
import { REPO } from './helpers';

const MEASURED = join(REPO, 'packages/firmware-uefi/profiles/measured');

const run = (overwritten: ProfileRange[]): RetentionRun => ({
  repeat: 1,
  overwritten,
  pages: overwritten.reduce((s, r) => s + r.pages, 0),
  zeroPages: 0,
  emulatorPages: 0,
  post: { state: 'uefi-shell', bdsMs: 0, idleMs: 0 },
  durationMs: 0,
});
const at = (start: number, end: number): ProfileRange => ({ start, end, pages: (end - start) / PAGE_SIZE, zeroPages: 0 });

describe('how overwritten ranges move with memory size', () => {
  test('a range at the same address is low-anchored, one at the same distance below the top of RAM is top-anchored', () => {
    const small = measurementOf(256 * MiB, 'warm', [run([at(0, 0x1000), at(256 * MiB - 0x3000, 256 * MiB - 0x1000)])]);
    const large = measurementOf(1 * GiB, 'warm', [run([at(0, 0x1000), at(GiB - 0x3000, GiB - 0x1000)])]);
    const s = deriveRetentionScaling([large, small], 'warm');
    expect(s.memorySizes).toEqual([256 * MiB, GiB]);
    expect(s.ranges).toEqual([
      { anchor: 'low', start: 0, end: 0x1000, zeroPages: 0 },
      { anchor: 'top', startBelowTop: 0x3000, endBelowTop: 0x1000, zeroPages: 0 },
    ]);
    // Above 2.75 GiB the top of RAM under 4 GiB is 2 GiB.
    expect(predictOverwritten(s, 3 * GiB)).toEqual([at(0, 0x1000), at(2 * GiB - 0x3000, 2 * GiB - 0x1000)]);
    expect(describeScaling(s)).toEqual([
      'low  [0x0, 0x1000) 1 pages at a fixed address',
      'top  [top-0x3000, top-0x1000) 2 pages below the top of RAM under 4 GiB',
    ]);
  });

  test('ranges that fit neither rule, or that appear only at a larger size, are reported', () => {
    const small = measurementOf(256 * MiB, 'warm', [run([at(0x10000, 0x20000)])]);
    expect(() => deriveRetentionScaling([small, measurementOf(GiB, 'warm', [run([at(0x30000, 0x40000)])])], 'warm')).toThrow(
      /\[0x10000, 0x20000\) at 256MiB is neither/,
    );
    expect(() =>
      deriveRetentionScaling([small, measurementOf(GiB, 'warm', [run([at(0x10000, 0x20000), at(0x50000, 0x51000)])])], 'warm'),
    ).toThrow(/1GiB also overwrites \[0x50000, 0x51000\)/);
    expect(() => deriveRetentionScaling([small], 'warm')).toThrow(/two or more sizes/);
  });

  test('the committed OVMF measurements follow one rule from 256 MiB to 3 GiB (low ranges fixed, the rest top-anchored)', () => {
    const main = readRetentionProfile(join(MEASURED, 'ovmf-retention.json'));
    const sizes = readRetentionProfile(join(MEASURED, 'ovmf-retention-sizes.json'));
    const warm = [...main.measurements, ...sizes.measurements].filter((m) => m.reset === 'warm');
    expect(warm.map((m) => m.memoryBytes / MiB).sort((a, b) => a - b)).toEqual([256, 512, 1024, 2048, 3072]);
    const rule = deriveRetentionScaling(warm, 'warm');
    expect(rule.ranges.filter((r) => r.anchor === 'low').length).toBeGreaterThan(0);
    expect(rule.ranges.filter((r) => r.anchor === 'top').length).toBeGreaterThan(0);
    for (const m of warm)
      expect(predictOverwritten(rule, m.memoryBytes).map((r) => [r.start, r.end])).toEqual(m.overwritten.map((r) => [r.start, r.end]));
    // Cold equals warm under QEMU: the same rule predicts the cold measurements.
    for (const m of main.measurements.filter((x) => x.reset === 'cold')) {
      expect(predictOverwritten(rule, m.memoryBytes).map((r) => [r.start, r.end])).toEqual(m.overwritten.map((r) => [r.start, r.end]));
    }
  });
});
