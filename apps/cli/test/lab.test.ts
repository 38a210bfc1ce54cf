/**
 * The real cycle (efikdump lab run): OVMF and Debian's stock kernel under QEMU (TCG), a panic,
 * ResetSystem(EfiResetWarm), efikdump's loader, the capture kernel, makedumpfile. Each cycle
 * takes about a minute on 2 cores; skipped without qemu/OVMF/kernel/gnu-efi, unless
 * EFIKDUMP_REQUIRE_INTEROP=1 (CI), where a missing piece fails.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateTruth } from '@efikdump/core';
import { probeLabEnvironment } from '../src/lab/lab-environment';
import type { LabResult } from '../src/lab/lab-run';
import { efikdump, hasPythonModule, PYTHON, REPO, tempDir, toolAvailable } from './helpers';

const haveLab = toolAvailable(() => {
  probeLabEnvironment();
  return true;
}, "efikdump lab's host tools (qemu-system-x86, ovmf, linux-image-amd64, busybox-static, gnu-efi, gcc, mtools, dosfstools, makedumpfile)");
const haveKdumpfile = toolAvailable(hasPythonModule('kdumpfile'), 'python3-libkdumpfile');
const CHECKER = join(REPO, 'tools/interop/check_dump.py');
const CYCLE_MS = 900_000;

if (!haveLab) {
  console.warn(
    'lab.test.ts: skipped: qemu-system-x86_64, OVMF, a /boot/vmlinuz-* kernel or gnu-efi is missing (apt-get install qemu-system-x86 ovmf linux-image-amd64 busybox-static gnu-efi mtools dosfstools makedumpfile)',
  );
}

const readResult = (dir: string): LabResult => JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8')) as LabResult;

(haveLab ? describe.each(['efi-warm-efivar', 'efi-warm-reserved-memory']) : describe.skip.each(['efi-warm-efivar']))(
  'efikdump lab run: %s, 1 GiB, KASLR on, a real panic',
  (design) => {
    const tmp = tempDir('lab-crash');
    let run: ReturnType<typeof efikdump>;
    let result: LabResult;

    beforeAll(() => {
      run = efikdump(
        ['lab', 'run', '--design', design, '--memory', '1GiB', '--kaslr', 'on', '--out', tmp.dir, '--timeout', '840'],
        CYCLE_MS,
      );
      result = readResult(tmp.dir);
    }, CYCLE_MS + 60_000);
    afterAll(() => tmp.cleanup());

    test('the cycle ends with a dump whose every loss is declared', () => {
      expect(run.stderr).not.toMatch(/\n\s+at /); // no stack trace
      expect(['dump-complete', 'dump-partial']).toContain(result.outcome);
      expect(run.status).toBe(0);
      // The loader saw the crash (efi-pstore's records), took the handoff and booted the capture kernel.
      const events = result.loader.map((l) => l.event);
      expect(result.loader.find((l) => l.event === 'crash-records' && Number(l.count) > 0)).toBeDefined();
      expect(result.loader.find((l) => l.event === 'handoff')?.status).toBe('valid');
      expect(result.loader.find((l) => l.event === 'boot' && l.mode === 'capture')).toBeDefined();
      expect(events).toContain('elfcorehdr');
      const phases = result.timeline.map((t) => t.phase);
      for (const p of ['armed', 'pattern-written', 'panic', 'reset', 'loader-capture', 'capture-start', 'dump-written', 'records-cleared'])
        expect(phases).toContain(p);
      // The crash marker and the handoff travelled the design's way.
      const source = result.loader.find((l) => l.event === 'crash-records')?.source;
      const transport = result.timeline.find((t) => t.phase === 'armed')?.detail;
      if (design === 'efi-warm-efivar') {
        expect(source).toBe('efi-pstore');
        expect(transport).toMatch(/transport=efivarfs/);
      } else {
        expect(source).toBe('ramoops');
        expect(transport).toMatch(/transport=devmem/);
        expect(result.loader.find((l) => l.event === 'records-consumed')).toBeDefined();
      }
    });

    test('every pattern page not declared lost matches the truth, byte for byte', () => {
      const p = result.pattern;
      expect(p).toBeDefined();
      if (!p) return;
      expect(p.pages).toBe(256 * 256);
      expect(p.mismatched).toBe(0);
      expect(p.missing).toBe(0);
      expect(p.intact + p.declaredLost + p.filtered).toBe(p.pages);
      expect(p.intact).toBeGreaterThan(p.pages * 0.9);
    });

    test('efikdump verify reads the real dump: sampled pages match, declared-lost and crash-region pages are absent', () => {
      const kept = validateTruth(JSON.parse(readFileSync(result.files.truthKept, 'utf8')), result.files.truthKept);
      expect(kept.pages.length).toBeGreaterThan(3000);
      const v = efikdump(['verify', result.files.dump, '--truth', result.files.truthKept]);
      expect(v.stderr).toBe('');
      expect(v.stdout).toMatch(/sampled pages match/);
      expect(v.status).toBe(0);
    });

    test('makedumpfile --dump-dmesg shows the panic line of the crashed kernel', () => {
      const out = join(tmp.dir, 'dmesg-check.txt');
      const r = spawnSync('makedumpfile', ['--dump-dmesg', result.files.dump, out], { encoding: 'utf8' });
      expect(r.status).toBe(0);
      const log = readFileSync(out, 'utf8');
      expect(log).toContain('sysrq: Trigger a crash');
      expect(log).toMatch(/Kernel panic - not syncing: sysrq triggered crash/);
    });

    (haveKdumpfile ? test : test.skip)('libkdumpfile reads every sampled page the dump keeps', () => {
      const r = spawnSync(PYTHON, [CHECKER, 'libkdumpfile', result.files.dump, result.files.truthKept], {
        encoding: 'utf8',
        maxBuffer: 64 << 20,
      });
      const check = JSON.parse(r.stdout);
      expect(check.mismatched).toEqual([]);
      expect(check.missing).toEqual([]);
      expect(check.excluded_present).toEqual([]);
      expect(check.matched).toBe(check.checked);
      expect(r.status).toBe(0);
    });

    test("lab compare puts the simulator's prediction for the same machine beside the real run", () => {
      const c = efikdump(['lab', 'compare', tmp.dir, '--json']);
      expect(c.stderr).toBe('');
      expect(c.status).toBe(0);
      const doc = JSON.parse(c.stdout);
      expect(doc.format).toBe('efikdump-lab-compare/1');
      expect(doc.simulatedDesign).toBe(design);
      const outcome = doc.rows.find((r: { what: string }) => r.what === 'outcome');
      expect(outcome.real).toBe(result.outcome);
      expect(doc.footprintOverlap.realPages).toBe(result.footprint?.pages);
      expect(existsSync(join(tmp.dir, 'compare.json'))).toBe(true);
    });

    test('the firmware footprint between the reset and loader entry was measured', () => {
      expect(result.footprint).toBeDefined();
      const doc = JSON.parse(readFileSync(join(tmp.dir, 'footprint.json'), 'utf8'));
      expect(doc.format).toBe('efikdump-lab-footprint/1');
      expect(doc.moment).toBe('loader-entry');
      expect(doc.pages).toBe(doc.overwritten.reduce((n: number, r: { pages: number }) => n + r.pages, 0));
      expect(doc.pages).toBeGreaterThan(0);
      // POST stays out of the crash region, or the capture could not have been confined there.
      const [start, end] = result.crashRegion ?? [0, 0];
      for (const r of doc.overwritten) expect(Number(r.end) <= start || Number(r.start) >= end).toBe(true);
    });
  },
);

(haveLab ? describe.each(['efi-warm-efivar', 'efi-warm-reserved-memory']) : describe.skip.each(['efi-warm-efivar']))(
  'efikdump lab run: %s, a clean reboot -f boots normally',
  (design) => {
    const tmp = tempDir('lab-reboot');
    afterAll(() => tmp.cleanup());

    test(
      'no crash records, so the loader starts the normal kernel again and no capture runs',
      () => {
        const run = efikdump(
          [
            'lab',
            'run',
            '--design',
            design,
            '--memory',
            '1GiB',
            '--action',
            'reboot',
            '--pattern',
            '0',
            '--no-footprint',
            '--out',
            tmp.dir,
            '--timeout',
            '600',
          ],
          CYCLE_MS,
        );
        const result = readResult(tmp.dir);
        expect(result.outcome).toBe('normal-boot');
        expect(run.status).toBe(0);
        const boots = result.loader.filter((l) => l.event === 'boot');
        expect(boots.length).toBeGreaterThanOrEqual(2);
        expect(boots.every((b) => b.mode === 'normal')).toBe(true);
        expect(result.loader.filter((l) => l.event === 'crash-records').every((l) => l.count === '0')).toBe(true);
        expect(result.timeline.map((t) => t.phase)).toContain('reboot');
        expect(existsSync(join(tmp.dir, 'dump.vmcore'))).toBe(false);
      },
      CYCLE_MS,
    );
  },
);
