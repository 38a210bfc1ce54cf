import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, MiB, PAGE_SIZE } from '@efikdump/core';
import {
  formatProfileJson,
  parseRetentionProfile,
  readRetentionProfile,
  retentionProfileJson,
  writeRetentionProfile,
  type RetentionProfile,
} from '@efikdump/firmware-uefi';
import { REPO, tempDir } from './helpers';

const COMMITTED = join(REPO, 'packages/firmware-uefi/profiles/measured/ovmf-retention.json');

type Doc = Record<string, any>;

/** A small valid profile document, as the probe writes it. */
function validDoc(): Doc {
  const range = (start: number, end: number, zeroPages = 0) => ({
    start: `0x${start.toString(16)}`,
    end: `0x${end.toString(16)}`,
    pages: (end - start) / PAGE_SIZE,
    zeroPages,
  });
  const ranges = () => [range(0, 0x1000, 1), range(0x810000, 0x820000)];
  const run = (repeat: number) => ({
    repeat,
    pages: 17,
    zeroPages: 1,
    emulatorPages: 0,
    post: { state: 'uefi-shell', bdsMs: 4000, idleMs: 9000 },
    durationMs: 20000,
    overwritten: ranges(),
  });
  return {
    format: 'efikdump-retention-profile/1',
    createdAt: '2025-01-01T00:00:00.000Z',
    firmware: {
      name: 'ovmf',
      secureBoot: false,
      code: { path: '/usr/share/OVMF/OVMF_CODE_4M.fd', sha256: 'b'.repeat(64), bytes: 3653632 },
      vars: { path: '/usr/share/OVMF/OVMF_VARS_4M.fd', sha256: 'c'.repeat(64), bytes: 540672 },
      packages: { ovmf: '2022.11-6+deb12u2' },
    },
    qemu: { version: 'QEMU emulator version 7.2.22', packages: {}, machine: 'q35', accel: 'tcg', args: ['-nodefaults'] },
    pageSize: 4096,
    pattern: { seed: 1, layout: 'frame number, seed, magic, body' },
    method: { warm: 'system_reset' },
    memoryMaps: [
      {
        memory: '256MiB',
        source: 'memmap',
        systemRam: [
          { start: '0x0', end: '0xa0000' },
          { start: '0x100000', end: '0x800000' },
        ],
        bootServices: [{ start: '0x700000', end: '0x800000' }],
        other: [{ type: 'AcpiNvs', start: '0x810000', end: '0x900000' }],
      },
    ],
    measurements: [
      { memory: '256MiB', reset: 'warm', agree: true, pages: 17, systemRamPages: 1, overwritten: ranges(), runs: [run(1), run(2)] },
    ],
    placement: [
      {
        memory: '256MiB',
        reset: 'warm',
        crashkernel: 'crashkernel=96M',
        variant: 'system-ram',
        systemRamSource: 'memmap',
        reservation: [{ start: '0x8000000', end: '0xe000000' }],
        handoff: { start: '0x8000000', end: '0x8001000' },
        reservationSurvives: true,
        handoffSurvives: true,
        reservationOverwritten: [],
      },
    ],
  };
}

function configError(doc: unknown, file = 'bad.json'): ConfigError {
  try {
    parseRetentionProfile(doc, file);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('retention profile reader and validator', () => {
  test('a valid document parses; writing it back gives the same document', () => {
    const tmp = tempDir('profile');
    try {
      const p = parseRetentionProfile(validDoc(), 'x.json');
      expect(p.measurements[0]).toMatchObject({ memoryBytes: 256 * MiB, reset: 'warm', agree: true, pages: 17, systemRamPages: 1 });
      expect(p.measurements[0].overwritten[1]).toEqual({ start: 0x810000, end: 0x820000, pages: 16, zeroPages: 0 });
      const file = join(tmp.dir, 'out/p.json');
      writeRetentionProfile(file, p);
      expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(validDoc());
      expect(readRetentionProfile(file)).toEqual(p);
      expect(readdirSync(join(tmp.dir, 'out'))).toEqual(['p.json']); // no temporary left behind
    } finally {
      tmp.cleanup();
    }
  });

  test('ranges are written one per line', () => {
    const text = formatProfileJson(retentionProfileJson(parseRetentionProfile(validDoc(), 'x.json')));
    expect(text).toContain('\n        {"start": "0x810000", "end": "0x820000", "pages": 16, "zeroPages": 0}');
  });

  const cases: [string, (d: Doc) => void, string, RegExp][] = [
    [
      'a wrong format',
      (d) => (d.format = 'efikdump-retention-profile/2'),
      'format',
      /expected "efikdump-retention-profile\/1", found "efikdump-retention-profile\/2"/,
    ],
    ['a missing firmware', (d) => delete d.firmware, 'firmware', /expected an object, found nothing/],
    ['a bad sha256', (d) => (d.firmware.code.sha256 = 'xyz'), 'firmware.code.sha256', /64 lowercase hex digits/],
    ['a page size that is not 4096', (d) => (d.pageSize = 512), 'pageSize', /expected 4096, found 512/],
    [
      'a memory size that is not a size',
      (d) => (d.measurements[0].memory = 'lots'),
      'measurements[0].memory',
      /a memory size such as "256MiB"/,
    ],
    ['an unknown reset', (d) => (d.measurements[0].reset = 'lukewarm'), 'measurements[0].reset', /one of warm, cold, found "lukewarm"/],
    ['no measurements', (d) => (d.measurements = []), 'measurements', /at least 1 element/],
    ['no runs', (d) => (d.measurements[0].runs = []), 'measurements[0].runs', /at least 1 element/],
    [
      'a decimal string address',
      (d) => (d.measurements[0].runs[0].overwritten[1].start = '8454144'),
      'measurements[0].runs[0].overwritten[1].start',
      /hex string/,
    ],
    [
      'an unaligned address',
      (d) => (d.measurements[0].runs[1].overwritten[1].end = '0x820001'),
      'measurements[0].runs[1].overwritten[1].end',
      /page-aligned address above start 0x810000/,
    ],
    [
      'a range past the end of RAM',
      (d) => (d.measurements[0].overwritten[1].end = '0x20000000'),
      'measurements[0].overwritten[1]',
      /inside the guest's RAM \(\[0x0, 0x10000000\)\)/,
    ],
    [
      'a wrong page count',
      (d) => (d.measurements[0].runs[0].overwritten[1].pages = 15),
      'measurements[0].runs[0].overwritten[1].pages',
      /expected 16 \(the pages from start to end\), found 15/,
    ],
    [
      'more zero pages than pages',
      (d) => (d.measurements[0].runs[0].overwritten[0].zeroPages = 2),
      'measurements[0].runs[0].overwritten[0].zeroPages',
      /at most 1/,
    ],
    [
      'overlapping ranges',
      (d) => Object.assign(d.measurements[0].runs[0].overwritten[1], { start: '0x0', pages: 0x820 }),
      'measurements[0].runs[0].overwritten[1].start',
      /above the previous range's end 0x1000/,
    ],
    [
      'a run total that does not add up',
      (d) => (d.measurements[0].runs[0].pages = 18),
      'measurements[0].runs[0].pages',
      /expected 17 \(the sum of its ranges' pages\)/,
    ],
    [
      "a union that is not the runs' union",
      (d) => (d.measurements[0].overwritten = [d.measurements[0].overwritten[0]]),
      'measurements[0].overwritten',
      /the union of its runs' ranges/,
    ],
    ['agree contradicting the runs', (d) => (d.measurements[0].agree = false), 'measurements[0].agree', /expected true/],
    ['a wrong systemRamPages', (d) => (d.measurements[0].systemRamPages = 3), 'measurements[0].systemRamPages', /expected 1/],
    [
      'a duplicate measurement',
      (d) => d.measurements.push(d.measurements[0]),
      'measurements[1]',
      /one measurement per memory size and reset/,
    ],
    [
      'a placement without survives',
      (d) => delete d.placement[0].handoffSurvives,
      'placement[0].handoffSurvives',
      /expected true or false, found nothing/,
    ],
  ];

  test.each(cases)('%s is a ConfigError naming the file and the field', (_name, edit, field, message) => {
    const doc = validDoc();
    edit(doc);
    const e = configError(doc, 'profiles/bad.json');
    expect(e.file).toBe('profiles/bad.json');
    expect(e.field).toBe(field);
    expect(e.message).toMatch(message);
    expect(e.describe()).toBe(`profiles/bad.json:${field}: ${e.message}`);
    expect(e.exitCode).toBe(2);
  });

  test('a file that is not JSON is a ConfigError naming the file', () => {
    const tmp = tempDir('profile');
    try {
      const file = join(tmp.dir, 'broken.json');
      writeFileSync(file, '{"format": ');
      expect(() => readRetentionProfile(file)).toThrow(ConfigError);
      expect(() => readRetentionProfile(file)).toThrow(/valid JSON/);
      expect(() => readRetentionProfile(join(tmp.dir, 'absent.json'))).toThrow(/cannot read/);
    } finally {
      tmp.cleanup();
    }
  });

  test('the committed measured profile is valid, and every size and reset measured its repeats in agreement', () => {
    const p: RetentionProfile = readRetentionProfile(COMMITTED);
    const keys = p.measurements.map((m) => `${m.memoryBytes / MiB}MiB ${m.reset}`);
    expect(keys).toEqual(expect.arrayContaining(['256MiB warm', '256MiB cold', '1024MiB warm', '1024MiB cold']));
    for (const m of p.measurements) {
      expect(m.agree).toBe(true);
      expect(m.runs.length).toBeGreaterThanOrEqual(2);
      expect(m.runs.every((r) => r.emulatorPages === 0)).toBe(true);
    }
    // The design's crashkernel= at each size: its handoff page survives every reset; with all
    // System RAM searched, the reservation takes in 16 pages OVMF overwrites; placed as Linux
    // does (boot-services regions still reserved), it lands below them and survives whole.
    const verdicts = (p.placement ?? []).map(
      (v) =>
        `${v.memoryBytes / MiB}MiB ${v.reset} ${v.variant}: ${v.reservationSurvives ? 'survives' : `loses ${v.reservationOverwritten.reduce((s, r) => s + (r.end - r.start) / PAGE_SIZE, 0)} pages`}, handoff ${v.handoffSurvives ? 'survives' : 'lost'}`,
    );
    expect(verdicts).toEqual([
      '256MiB warm system-ram: loses 16 pages, handoff survives',
      '256MiB warm without-boot-services: survives, handoff survives',
      '256MiB cold system-ram: loses 16 pages, handoff survives',
      '256MiB cold without-boot-services: survives, handoff survives',
      '1024MiB warm system-ram: loses 16 pages, handoff survives',
      '1024MiB warm without-boot-services: survives, handoff survives',
      '1024MiB cold system-ram: loses 16 pages, handoff survives',
      '1024MiB cold without-boot-services: survives, handoff survives',
    ]);
  });

  test('the other committed profiles (more sizes; Secure Boot) are valid too', () => {
    for (const name of ['ovmf-retention-sizes.json', 'ovmf-secboot-retention.json']) {
      const p = readRetentionProfile(join(REPO, 'packages/firmware-uefi/profiles/measured', name));
      expect(p.measurements.every((m) => m.agree)).toBe(true);
    }
  });
});
