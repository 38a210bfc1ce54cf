import { createRun, GiB, OUTCOMES, type Design, type RunResult, type Scenario } from '@efikdump/core';
import { createContainer } from '../src/container';
import { builtinDesigns, builtinScenarios } from '../src/library';
import { capture } from './in-process';
import { tempDir } from './helpers';
import { join } from 'node:path';
import { readdirSync, writeFileSync } from 'node:fs';
import { main } from '../src/main';

// Issue 5: exit paths, devices with in-flight DMA, IOMMU, consoles, capture sizing, the scenarios.

const designs = builtinDesigns();
const scenarios = builtinScenarios();
const design = (name: string): Design => designs.find((d) => d.name === name)!;
const scenario = (name: string): Scenario => scenarios.find((s) => s.name === name)!;
const container = createContainer();
const OPTIONS = { truthPages: 64, truthZeroPages: 16 };

function run(d: string, s: string, seed: number, ramBytes?: number): Promise<RunResult> {
  return createRun(container, {
    design: design(d),
    scenario: scenario(s),
    seed,
    options: OPTIONS,
    ...(ramBytes ? { ramBytes } : {}),
  }).start();
}

/**
 * The same run with the design on the ideal firmware (POST keeps all RAM). Most of this suite tests
 * the crash world's mechanics (devices and DMA, the IOMMU, consoles, capture sizing, the loop rule),
 * which are separated here from what POST destroys; the designs' outcomes on the measured firmware
 * are in measured-firmware.test.ts and at the end of this file.
 */
function runIdeal(d: string, s: string, seed: number, ramBytes?: number): Promise<RunResult> {
  const base = scenario(s);
  const keepsRam: Scenario = { ...base, firmware: { ...(base.firmware ?? {}), scratch: [], retention: 'ideal' } };
  return createRun(container, { design: design(d), scenario: keepsRam, seed, options: OPTIONS, ...(ramBytes ? { ramBytes } : {}) }).start();
}

/** Footprint-aware designs declare the firmware's footprint lost even where POST kept it: on the ideal firmware their dumps are partial by design. */
const FOOTPRINT_AWARE = designs.filter((d) => d.kdump?.declareLoss && d.kdump.declareLoss !== 'none').map((d) => d.name);

/**
 * Designs that reach the capture kernel on a healthy machine. One does not, by what it models:
 * firmware scratch ranges that overwrite the elfcorehdr (efi-warm-with-firmware-retention). The
 * firmware-writes-dump family has no capture kernel at all (firmware-writes-dump.test.ts).
 */
const NO_CAPTURE_KERNEL = designs.filter((d) => d.components.exit[0] === 'firmware-writes-dump').map((d) => d.name);
const CAPTURING = designs.map((d) => d.name).filter((n) => n !== 'efi-warm-with-firmware-retention' && !NO_CAPTURE_KERNEL.includes(n));

/** Designs whose exit is a firmware reset through ResetSystem. */
const EFI_RESET_DESIGNS = designs.filter((d) => d.components.exit[0].startsWith('efi-')).map((d) => d.name);

test('the RFD scenario list is there, and `efikdump scenarios` prints one line for each', async () => {
  const wanted = [
    'healthy',
    'iommu-inflight-dma',
    'no-serial-console',
    'nvram-nearly-full',
    'firmware-scrubs-low-memory',
    'mor-set',
    'ecc-scrub-on-reset',
    'torn-nvram-write',
    'double-panic',
    'forged-crash-marker',
    'crashkernel-too-small',
    'huge-memory-1tib',
  ];
  expect(scenarios.map((s) => s.name)).toEqual(expect.arrayContaining(wanted));
  const io = capture();
  expect(await main(['scenarios'], io)).toBe(0);
  expect(io.stdout).toHaveLength(scenarios.length);
  for (const name of wanted) expect(io.stdout.filter((l) => l.startsWith(`${name} `))).toHaveLength(1);
  expect(EFI_RESET_DESIGNS).toEqual(expect.arrayContaining(['efi-warm-reserved-memory', 'efi-warm-efivar', 'efi-cold-reserved-memory']));
  expect(designs.map((d) => d.name)).toEqual(expect.arrayContaining(['classic-kexec', 'classic-kexec-iommu-off', 'fadump']));
});

describe('iommu-inflight-dma over 200 seeds', () => {
  const SEEDS = Array.from({ length: 200 }, (_, i) => i + 1);
  const s = scenario('iommu-inflight-dma');
  // The scenario's rate: the chance that at least one device has DMA in flight at the panic.
  const rate = 1 - s.machine.devices.reduce((p, d) => p * (1 - d.inflightRate), 1);

  test("classic kexec with translation turned off fails (hang or corrupt dump) at about the scenario's rate, exactly when DMA was in flight", async () => {
    let failures = 0;
    for (const seed of SEEDS) {
      const r = await run('classic-kexec-iommu-off', 'iommu-inflight-dma', seed, GiB);
      const inflight = (r.metrics.dmaDevicesInFlight as number) > 0;
      const failed = r.outcome === 'capture-hang' || r.outcome === 'dump-corrupt';
      expect({ seed, inflight, failed }).toEqual({ seed, inflight, failed: inflight });
      if (failed) {
        failures++;
        expect(r.reason).toMatch(/stray DMA|sampled pages differ/);
      } else {
        expect(r.outcome).toBe('dump-complete');
      }
    }
    // Binomial: within 4 standard deviations of the scenario's rate.
    const sd = Math.sqrt(SEEDS.length * rate * (1 - rate));
    expect(Math.abs(failures - SEEDS.length * rate)).toBeLessThan(4 * sd);
    expect(failures).toBeGreaterThan(0);
  });

  test.each(['efi-warm-reserved-memory', 'efi-warm-efivar', 'classic-kexec'])(
    '%s completes every run (devices reset, or old IOMMU tables kept)',
    async (d) => {
      let lostSomewhere = 0;
      for (const seed of SEEDS) {
        const r = await runIdeal(d, 'iommu-inflight-dma', seed, GiB);
        expect({ seed, outcome: r.outcome }).toEqual({ seed, outcome: 'dump-complete' });
        expect(r.metrics.dmaStrayOldMemoryPages).toBe(0);
        if ((r.metrics.pagesLost as number) > 0) {
          lostSomewhere++;
          expect(r.metrics.pagesLostWhere).toMatch(/DMA buffer pages/);
        }
      }
      // DMA in flight rewrote its own buffers in some runs: lost pages, reported, not corruption.
      expect(lostSomewhere).toBeGreaterThan(0);
    },
  );
});

describe('mor-set', () => {
  test.each(EFI_RESET_DESIGNS)('%s: no-dump, memory scrubbed by firmware', async (d) => {
    const r = await run(d, 'mor-set', 7);
    expect(r.outcome).toBe('no-dump');
    expect(r.reason).toMatch(/^memory scrubbed by firmware \(MOR ClearMemory was set\)/);
    expect(r.firmware?.retention.some((e) => e.policy === 'mor' && e.changedPages > 0)).toBe(true);
  });

  test('classic-kexec still dumps (no reset, so nothing honours MOR)', async () => {
    const r = await run('classic-kexec', 'mor-set', 7);
    expect(r.outcome).toBe('dump-complete');
    expect(r.firmware?.retention).toEqual([]);
  });
});

test('the designs that never reach the capture kernel say why', async () => {
  for (const d of designs.map((x) => x.name).filter((n) => !CAPTURING.includes(n) && !NO_CAPTURE_KERNEL.includes(n))) {
    const r = await run(d, 'healthy', 4);
    expect({ d, outcome: r.outcome }).toEqual({ d, outcome: 'no-dump' });
    expect(r.reason).toMatch(/corrupt|elfcorehdr|rejected|VMCOREINFO/);
  }
});

describe('crashkernel-too-small', () => {
  test.each(CAPTURING)('%s: capture-oom', async (d) => {
    const r = await runIdeal(d, 'crashkernel-too-small', 5);
    expect(r.outcome).toBe('capture-oom');
    expect(r.reason).toMatch(/^the capture kernel needs [\d.]+MiB .* but has [\d.]+MiB: out of memory$/);
    expect(r.metrics.captureMemoryNeededBytes).toBeGreaterThan(r.metrics.captureRamBytes as number);
  });
});

describe('double-panic', () => {
  test.each(CAPTURING)('%s ends in a stated outcome without looping', async (d) => {
    const r = await runIdeal(d, 'double-panic', 9);
    expect(OUTCOMES).toContain(r.outcome);
    expect(r.outcome).not.toBe('dump-complete');
    expect(r.reason).toMatch(/^the capture kernel panicked \(double panic\) and rebooted; /);
    expect(r.metrics.capturePanics).toBe(1);
    // Power-on, the capture boot after the firmware reset (not for kexec, which jumps), and the reboot after the second panic, where it ends.
    const firmwareBoots = design(d).components.exit[0] === 'classic-kexec' ? 2 : 3;
    expect(r.timeline.filter((e) => /boot #\d+ loads the kernel's EFI stub/.test(e.message))).toHaveLength(firmwareBoots);
  });

  test('the reserved-memory design refuses the second capture boot by its loop rule', async () => {
    const r = await run('efi-warm-reserved-memory', 'double-panic', 9);
    expect(r.reason).toMatch(/handoff rejected \((loop|replayed)\)/);
  });
});

describe('forged-crash-marker', () => {
  test.each(designs.map((d) => d.name))('%s: never a capture boot over 20 seeds', async (d) => {
    for (let seed = 1; seed <= 20; seed++) {
      const r = await run(d, 'forged-crash-marker', seed);
      expect({ seed, outcome: r.outcome }).toEqual({ seed, outcome: 'forgery-rejected' });
      expect(r.metrics.captureBoots ?? 0).toBe(0);
    }
  });

  test('a transport the stub reads refuses the forgery as forged', async () => {
    const r = await run('efi-warm-efivar', 'forged-crash-marker', 3);
    expect(r.reason).toMatch(/the stub refused it \(forged\)/);
    expect(r.metrics.handoffRejectedForged).toBe(1);
  });
});

describe('consoles', () => {
  test('no-serial-console: the EFI designs show the capture kernel on GOP after POST; classic kexec shows nothing', async () => {
    const efi = await runIdeal('efi-warm-reserved-memory', 'no-serial-console', 2);
    expect(efi).toMatchObject({ outcome: 'dump-complete', metrics: { consoleSeen: true, console: 'gop' } });
    const kexec = await run('classic-kexec', 'no-serial-console', 2);
    expect(kexec).toMatchObject({ outcome: 'dump-complete', metrics: { consoleSeen: false, console: 'none' } });
    const withSerial = await run('classic-kexec', 'healthy', 2);
    expect(withSerial.metrics).toMatchObject({ consoleSeen: true, console: 'serial' });
  });
});

describe('every design reports the same outcome and metrics', () => {
  test.each(CAPTURING)('%s on healthy', async (d) => {
    const r = await runIdeal(d, 'healthy', 4);
    for (const key of [
      'fidelity',
      'pagesLost',
      'crashToDumpUs',
      'nvramBytesWritten',
      'crashkernelBytes',
      'consoleSeen',
      'captureMemoryNeededBytes',
    ]) {
      expect({ key, present: key in r.metrics }).toEqual({ key, present: true });
    }
    expect(r.metrics.crashToDumpUs).toBeGreaterThan(0);
  });

  test('crash-to-dump time follows the path: kexec is faster than a warm reset, fadump slower than both', async () => {
    const t = async (d: string) => (await runIdeal(d, 'healthy', 4)).metrics.crashToDumpUs as number;
    const kexec = await t('classic-kexec');
    const warm = await t('efi-warm-reserved-memory');
    const fadump = await t('fadump');
    expect(kexec).toBeLessThan(warm);
    expect(warm).toBeLessThan(fadump);
  });
});

describe('huge-memory-1tib', () => {
  test.each(CAPTURING.filter((d) => !FOOTPRINT_AWARE.includes(d)))('%s completes a verified dump on the ideal firmware', async (d) => {
    const r = await runIdeal(d, 'huge-memory-1tib', 1);
    expect(r.ramBytes).toBe(2 ** 40);
    expect({ outcome: r.outcome, reason: r.reason }).toEqual({ outcome: 'dump-complete', reason: 'every sampled page matches the truth' });
  });

  test.each(FOOTPRINT_AWARE)('%s reaches a dump on measured OVMF with every loss declared', async (d) => {
    const r = await run(d, 'huge-memory-1tib', 1);
    expect(r.ramBytes).toBe(2 ** 40);
    expect(r.metrics.firmwarePagesChanged).toBeGreaterThan(0);
    expect(['dump-complete', 'dump-partial']).toContain(r.outcome);
    expect(r.metrics.sampledPagesUndeclared).toBe(0);
    expect(r.metrics.pagesDeclaredLost).toBeGreaterThan(0);
  });

  test.each(
    CAPTURING.filter(
      (d) =>
        !FOOTPRINT_AWARE.includes(d) &&
        design(d).components.exit[0].startsWith('efi-') &&
        ['ovmf', 'ovmf-measured'].includes(design(d).firmware?.profile ?? ''),
    ),
  )('%s (no rescue, nothing declared) loses its dump on measured OVMF', async (d) => {
    const r = await run(d, 'huge-memory-1tib', 1);
    expect(r.metrics.firmwarePagesChanged).toBeGreaterThan(0);
    expect(['no-dump', 'dump-corrupt']).toContain(r.outcome);
  });
});

describe('efikdump run --dump-level/--compress/--threads reach the writer', () => {
  test('--dump-level 31 makes the ELF writer drop excluded pages; a bad level is refused before the run', async () => {
    const { dir, cleanup } = tempDir('dump-level');
    try {
      const io = capture();
      expect(
        await main(
          [
            'run',
            '--design',
            'efi-warm-reserved-memory-ideal-firmware',
            '--memory',
            '1GiB',
            '--dump-level',
            '31',
            '--out',
            join(dir, 'x.elf'),
            '--json',
          ],
          io,
        ),
      ).toBe(0);
      const r = JSON.parse(io.stdout.join('\n'));
      expect(r.metrics.dumpLevel).toBe(31);
      expect(r.timeline.some((e: { message: string }) => /ELF core, -d 31: \d+ PT_LOADs/.test(e.message))).toBe(true);
      const bad = capture();
      expect(await main(['run', '--dump-level', '40'], bad)).toBe(2);
      expect(bad.stderr.join('\n')).toMatch(/--dump-level expects an integer from 0 to 31, found "40"/);
    } finally {
      cleanup();
    }
  });
});

test('a malformed crashkernel= from a scenario is an error naming the scenario file, before any dump', async () => {
  const { dir, cleanup } = tempDir('bad-crashkernel');
  try {
    const file = join(dir, 'bad.json');
    writeFileSync(
      file,
      JSON.stringify({ format: 'efikdump-scenario/1', name: 'bad-ck', description: 'a broken override', kernel: { crashkernel: '12Q' } }),
    );
    const io = capture();
    expect(await main(['run', '--scenario', file, '--out', join(dir, 'x.vmcore')], io)).toBe(2);
    expect(io.stderr.join('\n')).toMatch(
      new RegExp(`^error: ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:crashkernel: crashkernel="12Q": at offset 2: expected`),
    );
    expect(readdirSync(dir)).toEqual(['bad.json']);
  } finally {
    cleanup();
  }
});
