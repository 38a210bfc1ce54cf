import { join } from 'node:path';
import { GiB, MiB, PAGE_SIZE, intersectRanges, systemRamFromMemoryMap, type PhysRange } from '@efikdump/core';
import {
  buildMemoryMap,
  buildPlacementReport,
  deriveRetentionScaling,
  loadFirmwareProfile,
  profileMemoryMap,
  measurementOf,
  predictOverwritten,
  readRetentionProfile,
  type ProfileRange,
} from '@efikdump/firmware-uefi';
import { parseCrashkernel, placeCrashkernel } from '@efikdump/kernel-crash';
import { main } from '../src/main';
import type { Output } from '../src/output';
import { REPO } from './helpers';

const DESIGN = 'efi-warm-reserved-memory-ovmf-measured';
const CRASHKERNEL = 'crashkernel=0M-1G:128M,1G-4G:192M,4G-64G:256M,64G-:512M';
const MEASURED = readRetentionProfile(join(REPO, 'packages/firmware-uefi/profiles/measured/ovmf-retention.json'));
const RULE = deriveRetentionScaling(MEASURED.measurements, 'warm');

async function runJson(args: string[]) {
  const stdout: string[] = [];
  const io: Output = { tty: false, out: (l) => stdout.push(l), err: () => undefined };
  const code = await main(['run', ...args, '--json'], io);
  return { code, result: JSON.parse(stdout.join('\n')) };
}

const messages = (result: { timeline: { message: string }[] }) => result.timeline.map((e) => e.message);
const addr = (text: string) => Number.parseInt(text, 16);
const contains = (ranges: readonly PhysRange[], a: number) => ranges.some((r) => a >= r.start && a < r.end);

/** The probe's placement verdict for efikdump's kernel: its crashkernel= placement over the model's memory map, against the measured rule's ranges at this size. */
function verdictFor(memoryBytes: number) {
  const predicted: ProfileRange[] = predictOverwritten(RULE, memoryBytes);
  const spec = parseCrashkernel(`ro ${CRASHKERNEL}`)!;
  const profile = {
    ...MEASURED,
    memoryMaps: [],
    measurements: [
      measurementOf(memoryBytes, 'warm', [
        {
          repeat: 1,
          overwritten: predicted,
          pages: 0,
          zeroPages: 0,
          emulatorPages: 0,
          post: { state: 'predicted', bdsMs: 0, idleMs: 0 },
          durationMs: 0,
        },
      ]),
    ],
  };
  const [verdict] = buildPlacementReport(profile, {
    crashkernel: CRASHKERNEL,
    place: (bytes, ram) => placeCrashkernel(spec, ram, bytes)?.ranges,
    modelSystemRam: { source: "efikdump's q35 model (buildMemoryMap)", ranges: (bytes) => systemRamFromMemoryMap(buildMemoryMap(bytes)) },
  });
  return { predicted, verdict };
}

describe(`design ${DESIGN}: outcomes follow from the measured OVMF ranges`, () => {
  test.each([
    ['256MiB', 256 * MiB],
    ['1GiB', GiB],
  ])('at %s', async (size, memoryBytes) => {
    const { result } = await runJson(['--design', DESIGN, '--scenario', 'healthy', '--memory', size, '--seed', '3']);
    const { predicted } = verdictFor(memoryBytes);
    expect(result.metrics.firmwareProfile).toBe('ovmf-measured');

    // The retention map: exactly the predicted ranges' System RAM frames, on the memory map the probe read from OVMF.
    const systemRam = systemRamFromMemoryMap(profileMemoryMap(loadFirmwareProfile('ovmf-measured'), memoryBytes));
    const expected = intersectRanges(
      predicted.map((r) => ({ start: r.start, end: r.end })),
      systemRam,
    );
    // The design's firmware-scratch, then the platform's own policies (MOR, ECC, decay), which change nothing on OVMF.
    expect(result.firmware.retention.map((e: { policy: string }) => e.policy)).toEqual(['firmware-scratch', 'mor', 'ecc-reinit', 'decay']);
    expect(result.firmware.retention.slice(1).every((e: { changedPages: number }) => e.changedPages === 0)).toBe(true);
    const [scratch] = result.firmware.retention;
    expect(scratch).toMatchObject({ policy: 'firmware-scratch', reset: 'warm' });
    expect(scratch.changedRanges).toEqual(expected.map((r) => [r.start, r.end]));
    const changed = expected.reduce((s, r) => s + (r.end - r.start) / PAGE_SIZE, 0);
    expect(changed).toBeGreaterThan(0);
    expect(result.metrics.retentionChangedPages).toBe(changed);
    expect(result.metrics.firmwarePagesChanged).toBe(changed);

    // Linux places crashkernel= below the boot-services ranges memblock still holds at reserve_crashkernel()
    // time, so the reservation and the elfcorehdr at its top survive POST (as in the real run).
    const log = messages(result);
    const reserved = log.map((m) => /^crashkernel reserved (0x[0-9a-f]+)-(0x[0-9a-f]+)/.exec(m)).find(Boolean)!;
    const reservation = { start: addr(reserved[1]), end: addr(reserved[2]) + 1 };
    expect(intersectRanges([reservation], expected)).toEqual([]);
    const elfcorehdr = addr(log.map((m) => /^kdump loaded: elfcorehdr \d+ bytes at (0x[0-9a-f]+)/.exec(m)).find(Boolean)![1]);
    expect(contains(expected, elfcorehdr)).toBe(false);
    expect(result.metrics.handoffCandidates).toBe(1);
    expect(result.reason ?? '').not.toMatch(/elfcorehdr|magic/);

    // The naive design rescues nothing and declares nothing: POST's writes into the crashed kernel's
    // memory are undeclared differences, so the dump is corrupt — the measurement's implication.
    expect(result.metrics.pagesDeclaredLost).toBe(0);
    expect(result.outcome).toBe('dump-corrupt');
    expect(result.reason).toMatch(/sampled pages differ from the truth and are not declared lost/);
  });

  test('the committed placement report (on the measured memory map) places the reservation lower, where its last page survives', () => {
    for (const v of (MEASURED.placement ?? []).filter((x) => x.variant === 'system-ram' && x.reset === 'warm')) {
      const { verdict } = verdictFor(v.memoryBytes);
      expect(v.handoffSurvives).toBe(true);
      expect(v.reservation![0].end).toBeLessThan(verdict.reservation![0].end);
      const last = v.reservation![0].end - PAGE_SIZE;
      expect(contains(v.reservationOverwritten, last)).toBe(false);
    }
  });
});
