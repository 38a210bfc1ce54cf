import { closeSync, openSync, readFileSync, writeSync, ftruncateSync } from 'node:fs';
import { join } from 'node:path';
import { EfiMemoryType, GiB, MiB, PAGE_SIZE } from '@efikdump/core';
import {
  RangeCollector,
  backingRangesToPhysical,
  buildPlacementReport,
  compareRetentionProfiles,
  diffPatternPages,
  diffRamFile,
  fillRamFile,
  findPostProgress,
  measurementOf,
  parseShellMemmap,
  q35BelowFourGBytes,
  q35RamRanges,
  qemuArgs,
  stripAnsi,
  unionRanges,
  writePatternPages,
  PATTERN_MAGIC,
  type ProfileRange,
  type RetentionProfile,
  type RetentionRun,
} from '@efikdump/firmware-uefi';
import { tempDir } from './helpers';

const range = (startPage: number, endPage: number, zeroPages = 0): ProfileRange => ({
  start: startPage * PAGE_SIZE,
  end: endPage * PAGE_SIZE,
  pages: endPage - startPage,
  zeroPages,
});

describe('RAM pattern and page diff', () => {
  test('every frame carries its number, the seed and the magic, and no two frames are alike', () => {
    const buf = Buffer.alloc(4 * PAGE_SIZE);
    writePatternPages(buf, 0x100000001, 4, 7);
    for (let p = 0; p < 4; p++) {
      expect(buf.readBigUInt64LE(p * PAGE_SIZE)).toBe(0x100000001n + BigInt(p));
      expect(buf.readUInt32LE(p * PAGE_SIZE + 8)).toBe(7);
      expect(buf.readUInt32LE(p * PAGE_SIZE + 12)).toBe(PATTERN_MAGIC);
    }
    const bodies = new Set([0, 1, 2, 3].map((p) => buf.subarray(p * PAGE_SIZE + 16, (p + 1) * PAGE_SIZE).toString('hex')));
    expect(bodies.size).toBe(4);
    const other = Buffer.alloc(PAGE_SIZE);
    writePatternPages(other, 0x100000001, 1, 8);
    expect(other.equals(buf.subarray(0, PAGE_SIZE))).toBe(false);
  });

  test('changed pages coalesce into ranges with page and zero-page counts; a copied page is not intact', () => {
    const pages = 64;
    const buf = Buffer.alloc(pages * PAGE_SIZE);
    writePatternPages(buf, 0, pages, 1);
    buf.fill(0, 0, PAGE_SIZE); // frame 0 cleared
    buf[5 * PAGE_SIZE + 4000] ^= 1; // one bit in frame 5
    buf.fill(0xab, 6 * PAGE_SIZE, 9 * PAGE_SIZE); // frames 6..8
    buf.fill(0, 8 * PAGE_SIZE, 9 * PAGE_SIZE); //   of which 8 zero
    buf.copy(buf, 20 * PAGE_SIZE, 30 * PAGE_SIZE, 31 * PAGE_SIZE); // frame 30's content moved to 20
    buf.fill(0x11, 63 * PAGE_SIZE); // the last frame
    const c = new RangeCollector();
    diffPatternPages(buf, 0, 1, c);
    expect(c.ranges).toEqual([range(0, 1, 1), range(5, 9, 1), range(20, 21), range(63, 64)]);
    expect(c.pages).toBe(7);
    expect(c.zeroPages).toBe(2);
  });

  test('an unchanged buffer has no ranges; a range never spans breakAt', () => {
    const buf = Buffer.alloc(8 * PAGE_SIZE);
    writePatternPages(buf, 100, 8, 3);
    const none = new RangeCollector();
    diffPatternPages(buf, 100, 3, none);
    expect(none.ranges).toEqual([]);
    const split = new RangeCollector(4 * PAGE_SIZE);
    for (let pfn = 2; pfn < 6; pfn++) split.add(pfn, false);
    expect(split.ranges).toEqual([range(2, 4), range(4, 6)]);
    expect(() => split.add(3, false)).toThrow('out of order');
  });

  test('fillRamFile and diffRamFile over a file: only what changed after the fill is reported', () => {
    const tmp = tempDir('ramdiff');
    try {
      const file = join(tmp.dir, 'ram');
      const size = 8 * MiB;
      const fd = openSync(file, 'w+');
      ftruncateSync(fd, size);
      closeSync(fd);
      fillRamFile(file, size, 99);
      expect(diffRamFile(file, size, 99)).toEqual({ ranges: [], pages: 0, zeroPages: 0, totalPages: size / PAGE_SIZE });
      const w = openSync(file, 'r+');
      writeSync(w, Buffer.alloc(3 * PAGE_SIZE), 0, 3 * PAGE_SIZE, 1 * MiB); // crosses no chunk
      writeSync(w, Buffer.alloc(2 * PAGE_SIZE, 0x5a), 0, 2 * PAGE_SIZE, 4 * MiB - PAGE_SIZE); // crosses a 4 MiB chunk boundary
      closeSync(w);
      const d = diffRamFile(file, size, 99);
      expect(d.ranges).toEqual([range(256, 259, 3), range(1023, 1025)]);
      expect(d.pages).toBe(5);
      expect(readFileSync(file).length).toBe(size);
    } finally {
      tmp.cleanup();
    }
  });
});

describe('q35 RAM layout', () => {
  test('below 2.75 GiB all RAM sits below 4 GiB; from 2.75 GiB on, 2 GiB below and the rest above 4 GiB', () => {
    expect(q35BelowFourGBytes(256 * MiB)).toBe(256 * MiB);
    expect(q35BelowFourGBytes(2816 * MiB - MiB)).toBe(2815 * MiB);
    expect(q35BelowFourGBytes(2816 * MiB)).toBe(2 * GiB);
    expect(q35RamRanges(3 * GiB)).toEqual([
      { start: 0, end: 2 * GiB },
      { start: 4 * GiB, end: 5 * GiB },
    ]);
    const file = [range(0, 1), { start: 2 * GiB, end: 2 * GiB + PAGE_SIZE, pages: 1, zeroPages: 0 }];
    expect(backingRangesToPhysical(file, 3 * GiB)).toEqual([
      range(0, 1),
      { start: 4 * GiB, end: 4 * GiB + PAGE_SIZE, pages: 1, zeroPages: 0 },
    ]);
    expect(() =>
      backingRangesToPhysical([{ start: 2 * GiB - PAGE_SIZE, end: 2 * GiB + PAGE_SIZE, pages: 2, zeroPages: 0 }], 3 * GiB),
    ).toThrow('spans');
  });
});

describe('repeats and comparison', () => {
  const run = (repeat: number, overwritten: ProfileRange[]): RetentionRun => ({
    repeat,
    overwritten,
    pages: overwritten.reduce((s, r) => s + r.pages, 0),
    zeroPages: 0,
    emulatorPages: 0,
    post: { state: 'uefi-shell', bdsMs: 1, idleMs: 2 },
    durationMs: 3,
  });

  test('repeats that name the same pages agree; otherwise the union is kept and they disagree', () => {
    const same = measurementOf(256 * MiB, 'warm', [run(1, [range(0, 2)]), run(2, [range(0, 2)])]);
    expect(same.agree).toBe(true);
    expect(same.overwritten).toEqual([range(0, 2)]);
    const differ = measurementOf(
      256 * MiB,
      'warm',
      [run(1, [range(0, 2), range(10, 11)]), run(2, [range(1, 4)])],
      [{ start: 0, end: 3 * PAGE_SIZE }],
    );
    expect(differ.agree).toBe(false);
    expect(differ.overwritten).toEqual([range(0, 4), range(10, 11)]);
    expect(differ.pages).toBe(5);
    expect(differ.systemRamPages).toBe(3);
    expect(unionRanges([[range(0, 1)], [range(1, 2)]])).toEqual([range(0, 2)]);
  });

  const profile = (measurements: RetentionProfile['measurements'], qemuVersion = 'QEMU 7.2'): RetentionProfile => ({
    format: 'efikdump-retention-profile/1',
    createdAt: 'now',
    firmware: {
      name: 'ovmf',
      secureBoot: false,
      code: { path: 'c', sha256: 'a'.repeat(64), bytes: 1 },
      vars: { path: 'v', sha256: 'b'.repeat(64), bytes: 1 },
      packages: {},
    },
    qemu: { version: qemuVersion, packages: {}, machine: 'q35', accel: 'tcg', args: [] },
    pageSize: PAGE_SIZE,
    pattern: { seed: 1, layout: 'x' },
    method: {},
    memoryMaps: [],
    measurements,
  });

  test('comparing profiles lists pages found only on one side, and the version that changed', () => {
    const committed = profile([
      measurementOf(256 * MiB, 'warm', [run(1, [range(0, 4), range(10, 12)])]),
      measurementOf(256 * MiB, 'cold', [run(1, [range(0, 4)])]),
    ]);
    expect(
      compareRetentionProfiles(committed, profile([measurementOf(256 * MiB, 'warm', [run(1, [range(0, 4), range(10, 12)])])])),
    ).toEqual([]);
    const now = profile(
      [measurementOf(256 * MiB, 'warm', [run(1, [range(0, 3), range(10, 13)])]), measurementOf(GiB, 'warm', [run(1, [range(0, 1)])])],
      'QEMU 8.0',
    );
    expect(compareRetentionProfiles(committed, now)).toEqual([
      'QEMU differs: committed "QEMU 7.2", now "QEMU 8.0"',
      '256MiB warm: committed 6 pages in 2 ranges, measured 6 pages in 2 ranges',
      '  overwritten only in the committed profile: [0x3000, 0x4000) 1 pages',
      '  overwritten only in this measurement:     [0xc000, 0xd000) 1 pages',
      '1GiB warm: not in the committed profile',
    ]);
  });

  test('the placement report checks the reservation and its first page against the overwritten ranges', () => {
    const p = profile([
      measurementOf(256 * MiB, 'warm', [run(1, [range(0x8000, 0x8001), range(0xbb8d, 0xbb9d)])]),
      measurementOf(256 * MiB, 'cold', [run(1, [range(0, 1)])]),
    ]);
    p.memoryMaps.push({
      memoryBytes: 256 * MiB,
      source: 'measured',
      systemRam: [{ start: MiB, end: 256 * MiB }],
      bootServices: [{ start: 200 * MiB, end: 256 * MiB }],
      other: [],
    });
    const seen: unknown[] = [];
    const verdicts = buildPlacementReport(p, {
      crashkernel: 'crashkernel=96M',
      place: (size, ram) => {
        seen.push([size, ram]);
        return [{ start: 128 * MiB, end: 224 * MiB }];
      },
    });
    // Two variants per measurement: all System RAM, and System RAM less the boot-services regions.
    expect(seen.slice(0, 2)).toEqual([
      [256 * MiB, [{ start: MiB, end: 256 * MiB }]],
      [256 * MiB, [{ start: MiB, end: 200 * MiB }]],
    ]);
    expect(verdicts.map((v) => `${v.reset} ${v.variant}`)).toEqual([
      'warm system-ram',
      'warm without-boot-services',
      'cold system-ram',
      'cold without-boot-services',
    ]);
    expect(verdicts[0]).toMatchObject({
      reset: 'warm',
      systemRamSource: 'measured',
      handoff: { start: 128 * MiB, end: 128 * MiB + PAGE_SIZE },
      reservationSurvives: false,
      handoffSurvives: false,
      reservationOverwritten: [
        { start: 0x8000000, end: 0x8001000 },
        { start: 0xbb8d000, end: 0xbb9d000 },
      ],
    });
    expect(verdicts[2]).toMatchObject({ reset: 'cold', reservationSurvives: true, handoffSurvives: true, reservationOverwritten: [] });
    const none = buildPlacementReport(p, { crashkernel: 'crashkernel=1G-:96M', place: () => undefined });
    expect(none[0]).toMatchObject({ reservationSurvives: false, note: 'crashkernel=1G-:96M reserves nothing for 256MiB' });
    // Without a measured memory map, the model's System RAM is the only variant.
    p.memoryMaps = [];
    const model = buildPlacementReport(p, {
      crashkernel: 'crashkernel=96M',
      place: () => [{ start: 0, end: MiB }],
      modelSystemRam: { source: 'model', ranges: () => [{ start: 0, end: 256 * MiB }] },
    });
    expect(model.map((v) => `${v.variant} ${v.systemRamSource}`)).toEqual(['system-ram model', 'system-ram model']);
  });
});

describe('serial console', () => {
  const shell =
    '\x1b[2J\x1b[01;01HBdsDxe: loading Boot0001 "EFI Internal Shell"\r\nBdsDxe: starting Boot0001\r\n\x1b[01;01HUEFI Interactive Shell v2.2\r\nPress ESC in 1 seconds\r\n\x1b[06;01H\x1b[1m\x1b[33m\x1b[40mShell> \x1b[0m';
  test("POST ends at the shell prompt or the boot manager's wait, after the boot manager's first line", () => {
    const p = findPostProgress(shell);
    expect(p.bdsAt).toBe(shell.indexOf('BdsDxe'));
    expect(p.idle).toEqual({ state: 'uefi-shell', at: shell.indexOf('Shell> ') });
    expect(findPostProgress(shell, shell.length)).toEqual({});
    expect(findPostProgress('Shell> typed before any BdsDxe')).toEqual({});
    const sb =
      'BdsDxe: failed to start Boot0001 "EFI Internal Shell": Security Violation\r\nBdsDxe: No bootable option or device was found.\r\nBdsDxe: Press any key to enter the Boot Manager Menu.\r\n';
    expect(findPostProgress(sb).idle?.state).toBe('boot-manager-wait');
    expect(findPostProgress('BdsDxe: loading Boot0001\r\nUEFI Interactive Shell').idle).toBeUndefined();
    expect(stripAnsi(shell)).not.toContain('\x1b');
  });

  test("the shell's memmap table parses into descriptors; a damaged row rejects the table", () => {
    const table = [
      'memmap',
      'Type       Start            End              # Pages          Attributes',
      'Available  0000000000000000-000000000009FFFF 00000000000000A0 000000000000000F',
      'BS_Data    0000000000900000-00000000014FFFFF 0000000000000C00 000000000000000F',
      'RT_Data    000000000EAA0000-000000000EBA1FFF 0000000000000102 800000000000000F',
      'ACPI_NVS   000000000FF78000-000000000FFFFFFF 0000000000000088 000000000000000F',
      '  Available :         54,590 Pages (223,600,640 Bytes)',
    ].join('\r\n');
    expect(parseShellMemmap(table)).toEqual([
      { type: EfiMemoryType.Conventional, start: 0, pages: 0xa0, attribute: 0xfn },
      { type: EfiMemoryType.BootServicesData, start: 0x900000, pages: 0xc00, attribute: 0xfn },
      { type: EfiMemoryType.RuntimeServicesData, start: 0xeaa0000, pages: 0x102, attribute: 0x800000000000000fn },
      { type: EfiMemoryType.AcpiNvs, start: 0xff78000, pages: 0x88, attribute: 0xfn },
    ]);
    expect(parseShellMemmap(table.replace('00000000000000A0', '00000000000000A1'))).toBeUndefined();
    expect(parseShellMemmap(table.replace('000000000EBA1FFF 0000000000000102', '000000000EBA1'))).toBeUndefined();
    expect(parseShellMemmap('Shell> ')).toBeUndefined();
  });
});

describe('QEMU command line', () => {
  const base = {
    qemu: '/usr/bin/qemu-system-x86_64',
    accel: 'tcg' as const,
    memoryBytes: 256 * MiB,
    ramFile: '/dev/shm/run,1/ram',
    firmware: { code: '/usr/share/OVMF/OVMF_CODE_4M.fd', vars: '/usr/share/OVMF/OVMF_VARS_4M.fd', secureBoot: false },
    varsFile: '/dev/shm/run,1/vars.fd',
    runDir: '/dev/shm/run,1',
    label: 'boot-1',
    hardLimitMs: 60_000,
  };

  test('q35 on a shared RAM file, OVMF on pflash, no defaults, no display, no network, stopped at start', () => {
    const args = qemuArgs(base);
    const after = (flag: string) => args.filter((_, i) => args[i - 1] === flag);
    expect(after('-machine')).toEqual(['q35,accel=tcg,memory-backend=ram0']);
    expect(after('-object')).toEqual(['memory-backend-file,id=ram0,size=268435456,mem-path=/dev/shm/run,,1/ram,share=on']);
    expect(after('-m')).toEqual(['256M']);
    expect(after('-drive')).toEqual([
      'if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd',
      'if=pflash,format=raw,unit=1,file=/dev/shm/run,,1/vars.fd',
    ]);
    expect(after('-nic')).toEqual(['none']);
    expect(after('-display')).toEqual(['none']);
    expect(args).toEqual(expect.arrayContaining(['-nodefaults', '-no-user-config', '-S']));
    expect(after('-chardev')).toEqual(['file,id=console0,path=/dev/shm/run,,1/boot-1.serial.log']);
    expect(after('-qmp')).toEqual(['unix:/dev/shm/run,,1/boot-1.qmp,server=on,wait=off']);
    expect(args.some((a) => /netdev|-net\b|user,/.test(a))).toBe(false);
  });

  test('Secure Boot adds SMM and SMM-only flash writes', () => {
    const args = qemuArgs({ ...base, firmware: { ...base.firmware, secureBoot: true } });
    expect(args).toContain('q35,accel=tcg,memory-backend=ram0,smm=on');
    expect(args.join(' ')).toContain('-global driver=cfi.pflash01,property=secure,value=on');
  });
});
