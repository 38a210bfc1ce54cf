import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRun, intersectRanges, mergeRanges, PAGE_SIZE, type Design, type RunResult, type Scenario } from '@efikdump/core';
import {
  FIRMWARE_DUMP_BYTES_PER_SECOND,
  FIRMWARE_DUMP_ENCRYPTED_BYTES_PER_SECOND,
  OFFLINE_DUMP_DEMO_KEY,
  OfflineDumpCreationError,
} from '@efikdump/firmware-uefi';
import { WATCHDOG_HEARTBEAT_US } from '@efikdump/kernel-crash';
import { createContainer } from '../src/container';
import { builtinDesigns, builtinScenarios } from '../src/library';
import { efikdump, hasCommand, tempDir, toolAvailable } from './helpers';

// Issue 16: the firmware writes the dump (Offline Crash Dump style). The exit and the writer are
// plug-ins of firmware-uefi; these runs check what the firmware destroyed before it wrote, what it
// declares, what stops it (MOR) and what does not (in-flight DMA), and the firmware → OS record.

const designs = builtinDesigns();
const scenarios = builtinScenarios();
const design = (name: string): Design => designs.find((d) => d.name === name)!;
const scenario = (name: string): Scenario => scenarios.find((s) => s.name === name)!;
const container = createContainer();
const GiB = 1024 ** 3;

function run(d: Design, s: Scenario, seed = 3): Promise<RunResult> {
  return createRun(container, { design: d, scenario: s, seed, ramBytes: GiB, options: { truthPages: 1024, truthZeroPages: 64 } }).start();
}

const changedByFirmware = (r: RunResult) =>
  mergeRanges(
    (r.firmware?.retention ?? []).filter((e) => e.boot === 2).flatMap((e) => e.changedRanges.map(([start, end]) => ({ start, end }))),
  );

describe('firmware-writes-dump', () => {
  it("writes RAM after POST's footprint: every undeclared difference is a page the firmware changed before it wrote", async () => {
    const r = await run(design('firmware-writes-dump'), scenario('healthy'));
    const stages = r.timeline.map((e) => e.stage);
    expect(stages).not.toContain('capture-boot');
    expect(r.metrics.crashkernelBytes).toBe(0);
    expect(r.timeline.some((e) => /offline dump written/.test(e.message))).toBe(true);
    const destroyed = r.metrics.offlineDumpPagesDestroyed as number;
    expect(destroyed).toBeGreaterThan(0);
    expect(destroyed).toBe(r.metrics.firmwarePagesChanged);
    // The firmware declares only its own live allocations; what it wrote and freed again stays in the dump.
    expect(r.metrics.pagesDeclaredLost).toBeGreaterThan(0);
    expect(r.metrics.pagesDeclaredLost).toBeLessThan(destroyed);
    expect(r.outcome).toBe('dump-corrupt');
    const first = Number.parseInt(/first at (0x[0-9a-f]+)/.exec(r.reason)![1], 16);
    expect(intersectRanges(changedByFirmware(r), [{ start: first, end: first + PAGE_SIZE }])).toHaveLength(1);
    expect(r.metrics.offlineDumpExpected).toBe(true);
    expect(r.metrics.offlineDumpCreationErrors).toBe(0);
    expect(r.metrics.offlineDumpWriterThroughputAssumed).toBe(true);
    expect(r.metrics.offlineDumpWriterBytesPerSecond).toBe(FIRMWARE_DUMP_BYTES_PER_SECOND);
  });

  it('on a firmware that writes nothing across the reset the same design gives a dump with every loss declared', async () => {
    const ideal = { ...design('firmware-writes-dump'), firmware: { profile: 'ideal' } };
    const r = await run(ideal, scenario('healthy'));
    expect(r.metrics.offlineDumpPagesDestroyed).toBe(0);
    expect(['dump-complete', 'dump-partial']).toContain(r.outcome);
    expect(r.metrics.sampledPagesUndeclared).toBe(0);
  });

  it.each([256 * 1024 ** 2, GiB, 4 * GiB])(
    'a firmware that declares its measured POST footprint too gives a dump-partial with every difference declared (%d bytes)',
    async (ramBytes) => {
      const d = design('firmware-writes-dump-measured-footprint');
      expect(d.componentOptions?.firmware?.[0]).toEqual({ offlineDumpDeclares: 'own-allocations-and-measured' });
      const opts = { seed: 5, ramBytes, options: { truthPages: 1024, truthZeroPages: 64 } };
      const r = await createRun(container, { design: d, scenario: scenario('healthy'), ...opts }).start();
      const naive = await createRun(container, { design: design('firmware-writes-dump'), scenario: scenario('healthy'), ...opts }).start();
      const destroyed = r.metrics.offlineDumpPagesDestroyed as number;
      expect(destroyed).toBeGreaterThan(0);
      expect(destroyed).toBe(naive.metrics.offlineDumpPagesDestroyed);
      // It declares more than the naive writer (its allocations and the prediction), at least every page POST changed.
      expect(r.metrics.pagesDeclaredLost as number).toBeGreaterThanOrEqual(destroyed);
      expect(r.metrics.pagesDeclaredLost as number).toBeGreaterThan(naive.metrics.pagesDeclaredLost as number);
      expect(r.outcome).toBe('dump-partial');
      expect(r.metrics.sampledPagesUndeclared).toBe(0);
      expect(r.metrics.pagesChecked).toBeGreaterThan(0);
      expect(naive.outcome).toBe('dump-corrupt');
      // Less RAM written: the declared ranges are left out of the partition.
      expect(r.metrics.offlineDumpBytes as number).toBeLessThan(naive.metrics.offlineDumpBytes as number);
    },
  );

  it('the encrypted variant costs more writer time at the assumed throughput and destroys the same pages', async () => {
    const plain = await run(design('firmware-writes-dump'), scenario('healthy'));
    const enc = await run(design('firmware-writes-dump-encrypted'), scenario('healthy'));
    expect(enc.metrics.offlineDumpWriterBytesPerSecond).toBe(FIRMWARE_DUMP_ENCRYPTED_BYTES_PER_SECOND);
    expect(enc.metrics.offlineDumpWriteUs as number).toBeGreaterThan(plain.metrics.offlineDumpWriteUs as number);
    expect(enc.metrics.offlineDumpPagesDestroyed).toBe(plain.metrics.offlineDumpPagesDestroyed);
    expect(enc.metrics.offlineDumpVariableBytes as number).toBeGreaterThan(plain.metrics.offlineDumpVariableBytes as number);
  });

  it('MOR set stops it (memory scrubbed, creation error set); in-flight DMA does not', async () => {
    const mor = await run(design('firmware-writes-dump'), scenario('mor-set'));
    expect(mor.outcome).toBe('no-dump');
    expect(mor.reason).toMatch(/MOR/);
    expect((mor.metrics.offlineDumpCreationErrors as number) & OfflineDumpCreationError.memoryOverwriteRequested).toBeTruthy();
    expect(mor.metrics.offlineDumpBytes).toBeUndefined();
    const dma = await run(design('firmware-writes-dump'), scenario('iommu-inflight-dma'));
    const healthy = await run(design('firmware-writes-dump'), scenario('healthy'));
    expect(dma.metrics.dmaDevicesInFlight).toBeGreaterThan(0);
    expect(dma.metrics.dmaBufferPagesRewritten).toBeGreaterThan(0);
    expect(dma.metrics.offlineDumpBytes).toBe(healthy.metrics.offlineDumpBytes);
    expect(dma.outcome).not.toBe('no-dump');
    expect(dma.metrics.pagesChecked).toBeGreaterThan(0);
  });

  it('a reset the OS did not ask for with a reason (EFI runtime lock busy: keyboard controller) is a normal one: no dump', async () => {
    const r = await run(design('firmware-writes-dump'), scenario('runtime-lock-busy'));
    expect(r.outcome).toBe('no-dump');
    expect(r.reason).toMatch(/normal one/);
    expect(r.metrics.offlineDumpAbnormalReset).toBe(false);
    expect(r.metrics.offlineDumpExpected).toBe(false);
  });

  it('every EFI design reports the firmware → OS record; one that never set the variables expects no dump', async () => {
    const r = await run(design('efi-warm-reserved-memory'), scenario('healthy'));
    expect(typeof r.metrics.offlineDumpAbnormalReset).toBe('boolean');
    expect(r.metrics.offlineDumpEnabled).toBe(false);
    expect(r.metrics.offlineDumpExpected).toBe(false);
    expect(r.metrics.offlineDumpCreationErrors).toBe(0);
  });

  it.each(['firmware-writes-dump', 'firmware-writes-dump-measured-footprint'])(
    "%s: --out writes the dump as an ELF core readelf accepts; verify gives the run's verdict",
    (name) => {
      if (!toolAvailable(hasCommand('readelf', ['--version']), 'readelf')) return;
      const { dir, cleanup } = tempDir('fwdump');
      try {
        const out = join(dir, 'dump.elf');
        const truth = join(dir, 'truth.json');
        const r = efikdump(['run', '--design', name, '--memory', '512MiB', '--seed', '2', '--out', out, '--truth', truth, '--json']);
        const result = JSON.parse(r.stdout) as RunResult;
        const elf = spawnSync('readelf', ['-h', '-l', '-n', out], { encoding: 'utf8' });
        expect(elf.status).toBe(0);
        expect(elf.stdout).toMatch(/CORE \(Core file\)/);
        expect(elf.stdout).toMatch(/LOAD/);
        expect(elf.stdout).toMatch(/EFIKDUMP/);
        const v = efikdump(['verify', out, '--truth', truth]);
        expect(v.status).toBe(result.outcome === 'dump-corrupt' ? 5 : result.outcome === 'dump-partial' ? 1 : 0);
        expect(result.outcome).toBe(name === 'firmware-writes-dump' ? 'dump-corrupt' : 'dump-partial');
      } finally {
        cleanup();
      }
    },
  );
});

// Each creation error of the published interface, reached from a scenario through `efikdump run`:
// the bit the next OS reads in OfflineDumpCreationErrors, and the run's outcome.
describe('firmware-writes-dump creation errors, through the CLI', () => {
  const runCli = (design: string, scenarioName: string): RunResult => {
    const r = efikdump(['run', '--design', design, '--scenario', scenarioName, '--memory', '512MiB', '--seed', '4', '--json']);
    return JSON.parse(r.stdout) as RunResult;
  };

  it.each([
    ['firmware-writes-dump', 'offcd-no-partition', OfflineDumpCreationError.noPartition, /no GPT partition of the dump type/],
    [
      'firmware-writes-dump',
      'offcd-unsupported-algorithm',
      OfflineDumpCreationError.unsupportedAlgorithm,
      /EncryptionAlgorithm 3 is not supported/,
    ],
    ['firmware-writes-dump', 'offcd-bad-certificate', OfflineDumpCreationError.badCertificate, /not an RSA X\.509 certificate/],
    ['firmware-writes-dump-encrypted', 'offcd-bad-certificate', OfflineDumpCreationError.badCertificate, /not an RSA X\.509 certificate/],
  ])('%s on %s: no dump, and the next OS is told why', (d, s, bit, why) => {
    const r = runCli(d, s);
    expect(r.outcome).toBe('no-dump');
    expect(r.reason).toMatch(why);
    expect(r.metrics.offlineDumpCreationErrors).toBe(bit);
    expect(r.metrics.offlineDumpAbnormalReset).toBe(true);
    expect(r.metrics.offlineDumpExpected).toBe(true);
    expect(r.metrics.offlineDumpBytes).toBeUndefined();
  });

  it('a partition too small for the dump: what fits is written, the rest declared lost, partitionTooSmall reported', () => {
    const s = { ...scenario('offcd-partition-too-small'), offlineDump: { partition: 256 * 1024 * 1024 } };
    return run(design('firmware-writes-dump'), s).then((r) => {
      expect(r.metrics.offlineDumpCreationErrors).toBe(OfflineDumpCreationError.partitionTooSmall);
      expect(r.metrics.offlineDumpBytes as number).toBeLessThanOrEqual(256 * 1024 * 1024);
      // The cut is declared: far more pages declared lost than the firmware's own allocations on a healthy run.
      expect(r.metrics.pagesDeclaredLost as number).toBeGreaterThan((GiB - 256 * 1024 * 1024) / PAGE_SIZE / 2);
      expect(r.outcome).not.toBe('no-dump');
    });
  });

  it('the partition-too-small scenario through the CLI reports the bit', () => {
    const r = runCli('firmware-writes-dump', 'offcd-partition-too-small');
    // 1 GiB partition, 512 MiB machine: it fits, so no error; the scenario's 4 GiB machine needs the cut.
    expect(r.metrics.offlineDumpCreationErrors).toBe(0);
    const big = JSON.parse(
      efikdump(['run', '--design', 'firmware-writes-dump', '--scenario', 'offcd-partition-too-small', '--seed', '4', '--json']).stdout,
    ) as RunResult;
    expect(big.metrics.offlineDumpCreationErrors).toBe(OfflineDumpCreationError.partitionTooSmall);
    expect(big.timeline.some((e) => /INSUFFICIENT_STORAGE/.test(e.message))).toBe(true);
  });

  it('designs that do not write offline dumps ignore the OffCD set-up', () => {
    const r = runCli('efi-warm-reserved-memory', 'offcd-no-partition');
    expect(r.metrics.offlineDumpCreationErrors).toBe(0);
    expect(r.metrics.offlineDumpEnabled).toBe(false);
  });
});

// The loop from a simulated run: the disk the firmware wrote (--artifacts), `dump extract`, `verify`.
describe('firmware-writes-dump --artifacts: the simulated disk', () => {
  const verifyStatus = (outcome: string) => (outcome === 'dump-corrupt' ? 5 : outcome === 'dump-partial' ? 1 : 0);

  it.each([
    ['firmware-writes-dump', false],
    ['firmware-writes-dump-encrypted', true],
    ['firmware-writes-dump-measured-footprint', false],
  ])("%s: sgdisk accepts disk.img, dump extract gives the run's dump, verify the run's verdict", (d, encrypted) => {
    const { dir, cleanup } = tempDir('fwdisk');
    try {
      const art = join(dir, 'art');
      mkdirSync(art);
      writeFileSync(join(art, 'keep.txt'), 'other file');
      const truth = join(dir, 'truth.json');
      const r = efikdump(['run', '--design', d, '--memory', '256MiB', '--seed', '5', '--truth', truth, '--artifacts', art, '--json']);
      const result = JSON.parse(r.stdout) as RunResult;
      const disk = join(art, 'disk.img');
      expect(result.artifacts.disk).toBe(disk);
      expect(readFileSync(join(art, 'keep.txt'), 'utf8')).toBe('other file');
      expect(readdirSync(art).filter((f) => f.includes('.tmp'))).toEqual([]);
      if (toolAvailable(hasCommand('sgdisk', ['--version']), 'sgdisk')) {
        const v = spawnSync('sgdisk', ['-v', disk], { encoding: 'utf8' });
        expect(v.stdout).toMatch(/No problems found/);
      }
      const out = join(dir, 'dump.elf');
      const x = efikdump(['dump', 'extract', disk, ...(encrypted ? ['--key', OFFLINE_DUMP_DEMO_KEY] : []), '-o', out, '--json']);
      expect(x.status).toBe(0);
      const info = JSON.parse(x.stdout) as { lostPages: number };
      expect(info.lostPages).toBe(result.metrics.pagesDeclaredLost);
      const v = efikdump(['verify', out, '--truth', truth]);
      expect(v.status).toBe(verifyStatus(result.outcome));
    } finally {
      cleanup();
    }
  });

  it('without --artifacts no disk is written; a run with no dump writes none either', () => {
    const r = JSON.parse(efikdump(['run', '--design', 'firmware-writes-dump', '--memory', '256MiB', '--json']).stdout) as RunResult;
    expect(r.artifacts.disk).toBeUndefined();
    const { dir, cleanup } = tempDir('fwdisk');
    try {
      const n = JSON.parse(
        efikdump([
          'run',
          '--design',
          'firmware-writes-dump',
          '--scenario',
          'offcd-no-partition',
          '--memory',
          '256MiB',
          '--artifacts',
          dir,
          '--json',
        ]).stdout,
      ) as RunResult;
      expect(n.outcome).toBe('no-dump');
      expect(readdirSync(dir)).not.toContain('disk.img');
    } finally {
      cleanup();
    }
  });
});

describe('compare: what the next boot learns', () => {
  it('each cell carries the firmware → OS record, and the table shows it', () => {
    const { dir, cleanup } = tempDir('fwcmp');
    try {
      const r = efikdump([
        'compare',
        '--designs',
        'firmware-writes-dump,classic-kexec',
        '--scenarios',
        'healthy,offcd-no-partition',
        '--runs',
        '2',
        '--backend',
        'local',
        '--report',
        dir,
        '--json',
      ]);
      expect(r.status).toBe(0);
      const cells = (JSON.parse(r.stdout) as { cells: { design: string; scenario: string; nextBoot: Record<string, number> | null }[] })
        .cells;
      const cell = (d: string, s: string) => cells.find((c) => c.design === d && c.scenario === s)!.nextBoot;
      expect(cell('firmware-writes-dump', 'healthy')).toEqual({ of: 2, abnormalReset: 2, expected: 2, written: 2, creationErrors: 0 });
      expect(cell('firmware-writes-dump', 'offcd-no-partition')).toEqual({
        of: 2,
        abnormalReset: 2,
        expected: 2,
        written: 0,
        creationErrors: OfflineDumpCreationError.noPartition,
      });
      // kexec never goes back through the firmware: the record is the power-on one.
      expect(cell('classic-kexec', 'healthy')).toEqual({ of: 2, abnormalReset: 0, expected: 0, written: 0, creationErrors: 0 });
      expect(readFileSync(join(dir, 'report.md'), 'utf8')).toMatch(/crash 2\/2, dump expected 2, written 0; errors noPartition/);
    } finally {
      cleanup();
    }
  });
});

describe('hung-machine: a hang the watchdog resets', () => {
  const runCli = (d: string): RunResult =>
    JSON.parse(
      efikdump(['run', '--design', d, '--scenario', 'hung-machine', '--memory', '512MiB', '--seed', '6', '--json']).stdout,
    ) as RunResult;

  it.each(['classic-kexec', 'efi-warm-efivar', 'fadump'])('%s: no panic path runs, no dump', (d) => {
    const r = runCli(d);
    expect(r.outcome).toBe('no-dump');
    expect(r.timeline.some((e) => e.stage === 'panic')).toBe(false);
    expect(r.timeline.some((e) => /hardware watchdog expired/.test(e.message))).toBe(true);
  });

  it('firmware-writes-dump: the firmware keys on the abnormal (watchdog) reset and writes the dump', () => {
    const r = runCli('firmware-writes-dump');
    expect(r.metrics.offlineDumpAbnormalReset).toBe(true);
    expect(r.metrics.offlineDumpExpected).toBe(true);
    expect(r.metrics.offlineDumpBytes).toBeGreaterThan(0);
    expect(r.outcome).not.toBe('no-dump');
    expect(r.metrics.pagesChecked).toBeGreaterThan(0);
    // The watchdog's heartbeat passes between the hang and the reset.
    const hang = r.timeline.find((e) => e.stage === 'hang')!.tUs;
    const reset = r.timeline.find((e) => /hardware watchdog expired/.test(e.message))!.tUs;
    expect(reset - hang).toBe(WATCHDOG_HEARTBEAT_US);
  });
});
