import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  copyFileSync,
  createReadStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  statfsSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import {
  ConfigError,
  GiB,
  MiB,
  decodeLostRanges,
  formatSize,
  hex,
  writeFileAtomic,
  LOST_RANGES_NOTE_NAME,
  NT_EFIKDUMP_LOST_RANGES,
  type LostRange,
  type TruthManifest,
} from '@efikdump/core';
import type { QmpEvent } from '@efikdump/firmware-uefi';
import { openDumpFile } from '@efikdump/vmcore';
import { buildLabImages, type LabImages } from './build-images';
import { diffRamImages, footprintDocument, footprintPrediction, readFootprint, type LabFootprint } from './footprint';
import { probeLabEnvironment, type LabEnvironment } from './lab-environment';
import { LabMachine } from './lab-machine';
import { PAGE_BYTES, decodePatternFrames, patternPage, patternTruth, type PatternFrames } from './pattern';
import { KERNEL_MARKERS, parseLabLines, type LabLine } from './serial-events';

/** The designs the lab runs for real, by the names of the simulated ones. */
export const LAB_DESIGNS = ['efi-warm-efivar', 'efi-warm-reserved-memory'] as const;
export type LabDesign = (typeof LAB_DESIGNS)[number];
export type LabDumpFormat = 'elf' | 'kdump-zlib' | 'kdump-lzo';

/** Where on the data disk the capture kernel writes the dump (the frame list is before it). */
export const DUMP_OFFSET_BYTES = 16 * MiB;

export interface LabRunOptions {
  design: LabDesign;
  memoryBytes: number;
  kaslr: boolean;
  /** What the 1st kernel does once armed: panic (sysrq c) or a clean `reboot -f` (the negative case). */
  action: 'crash' | 'reboot';
  patternMiB: number;
  seed: number;
  dumpLevel: number;
  format: LabDumpFormat;
  outDir: string;
  cacheDir: string;
  /** Where guest RAM, its snapshot and the data disk live during the run (tmpfs is fastest). */
  workDir: string;
  timeoutMs: number;
  /** Snapshot RAM at the reset and at loader entry and diff them. */
  footprint: boolean;
  /** Sampled pattern pages in the truth manifest. */
  truthSample: number;
  /**
   * A footprint.json from an earlier run whose ranges the loader declares lost (the firmware may
   * have written them); undefined: tools/lab/footprints/ovmf-<memory>.json when it exists; 'none': no file.
   */
  footprintFrom?: string;
  keepWork?: boolean;
  onProgress?: (line: string) => void;
}

export interface TimelineEntry {
  /** Wall-clock ms since QEMU was resumed. */
  ms: number;
  phase: string;
  detail: string;
}

export const LAB_RESULT_FORMAT = 'efikdump-lab-result/1';

export interface PatternCheck {
  pages: number;
  intact: number;
  /** Pages inside ranges the dump declares lost. */
  declaredLost: number;
  /** Pages the dump left out by its dump level. */
  filtered: number;
  /** Pages absent from the dump without a declaration. */
  missing: number;
  /** Pages present whose bytes differ from the truth. */
  mismatched: number;
  firstMismatch?: string;
}

export interface LabResult {
  format: typeof LAB_RESULT_FORMAT;
  design: LabDesign;
  memoryBytes: number;
  kaslr: boolean;
  action: 'crash' | 'reboot';
  outcome: 'dump-complete' | 'dump-partial' | 'dump-corrupt' | 'no-dump' | 'capture-hang' | 'normal-boot' | 'unexpected-capture';
  reason: string;
  timeline: TimelineEntry[];
  loader: Record<string, string>[];
  crashRegion?: [number, number];
  lostRanges: { start: string; end: string; reason: string }[];
  pattern?: PatternCheck;
  dmesgPanicLine?: boolean;
  files: Record<string, string>;
  footprint?: { pages: number; file: string };
  /** The measured footprint the loader was given to declare lost (a prediction from an earlier run). */
  prediction?: { file: string; ranges: number };
  durations: { total: number; panicToDumpMs?: number; resetToLoaderMs?: number; bootToInitMs?: number };
  images: Record<string, { path: string; built: boolean }>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** crashkernel= for the guest: 192M up to 512 MiB of RAM, else 256M. */
export function labCrashkernel(memoryBytes: number): string {
  return memoryBytes <= 512 * MiB ? '160M' : '256M';
}

/**
 * efi-warm-reserved-memory's zone (2 MiB the loader reserves at every normal boot): the middle of
 * RAM, clear of OVMF's footprint (low 23 MiB and the top of RAM) and of crashkernel=, which Linux
 * places top-down below the firmware's area.
 */
export function labZoneBase(memoryBytes: number): number {
  return memoryBytes / 2 - 8 * MiB;
}

/** \efikdump\design.txt for the loader. */
export function labDesignFile(design: LabDesign, memoryBytes: number): string {
  return design === 'efi-warm-reserved-memory' ? `reserved-memory ${hex(labZoneBase(memoryBytes))}` : 'efivar';
}

/** The normal boot's and the capture boot's base command lines. */
export function labCommandLines(
  o: Pick<LabRunOptions, 'memoryBytes' | 'kaslr' | 'action' | 'patternMiB' | 'seed' | 'dumpLevel' | 'format'>,
): { cmdline: string; capture: string } {
  const common = 'console=ttyS0,115200 initrd=\\initrd.img loglevel=6';
  const cmdline = [
    common,
    'reboot=efi,warm panic=1',
    `crashkernel=${labCrashkernel(o.memoryBytes)}`,
    o.kaslr ? '' : 'nokaslr',
    `efikdump.action=${o.action}`,
    `efikdump.pattern=${o.patternMiB}`,
    `efikdump.seed=${o.seed}`,
  ]
    .filter(Boolean)
    .join(' ');
  const capture = [common, 'panic=1', `efikdump.format=${o.format}`, `efikdump.dumplevel=${o.dumpLevel}`].join(' ');
  return { cmdline, capture };
}

/**
 * Where a run's big files go: /dev/shm when it has room for guest RAM, its snapshot and the dump
 * (tmpfs makes the RAM snapshots fast), else the system's temporary directory.
 */
export function defaultLabWorkDir(memoryBytes: number): string {
  try {
    const fs = statfsSync('/dev/shm');
    if (fs.bavail * fs.bsize > 3 * memoryBytes + 256 * MiB) return '/dev/shm';
  } catch {
    /* no /dev/shm */
  }
  return tmpdir();
}

/** The committed loader-entry footprint of OVMF for this RAM size, if the repository has one. */
export function defaultFootprintFile(env: LabEnvironment, memoryBytes: number): string | undefined {
  const path = join(env.sourcesDir, 'footprints', `ovmf-${memoryBytes / MiB}MiB.json`);
  return existsSync(path) ? path : undefined;
}

/** Runs `makedumpfile -R out` on the flattened dump at DUMP_OFFSET_BYTES of the data disk. */
async function rearrangeDump(disk: string, out: string): Promise<{ ok: boolean; log: string }> {
  return new Promise((resolve) => {
    const child = spawn('makedumpfile', ['-R', out], { stdio: ['pipe', 'pipe', 'pipe'] });
    let log = '';
    child.stdout.on('data', (c: Buffer) => (log += c.toString()));
    child.stderr.on('data', (c: Buffer) => (log += c.toString()));
    const input = createReadStream(disk, { start: DUMP_OFFSET_BYTES });
    input.on('error', () => child.stdin.end());
    child.stdin.on('error', () => input.destroy()); // makedumpfile stops reading at the end marker
    input.pipe(child.stdin);
    child.on('close', (code) => {
      input.destroy();
      resolve({ ok: code === 0, log: log.trim() });
    });
  });
}

function readAt(path: string, offset: number, length: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(length);
    const n = readSync(fd, b, 0, length, offset);
    return b.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** The lost ranges a dump declares in its EFIKDUMP/LOST note (none when it has no such note). */
function declaredLostRanges(dumpPath: string): LostRange[] {
  const dump = openDumpFile(dumpPath);
  try {
    const note = dump.notes().find((n) => n.name === LOST_RANGES_NOTE_NAME && n.type === NT_EFIKDUMP_LOST_RANGES);
    return note ? decodeLostRanges(note.desc, { file: dumpPath }) : [];
  } finally {
    dump.close();
  }
}

/** Checks every pattern page against the dump: intact, declared lost, filtered, missing or changed. */
export function checkPattern(dumpPath: string, frames: PatternFrames, lost: readonly LostRange[], dumpLevel: number): PatternCheck {
  const dump = openDumpFile(dumpPath);
  const expected = new Uint8Array(PAGE_BYTES);
  const actual = new Uint8Array(PAGE_BYTES);
  const check: PatternCheck = { pages: 0, intact: 0, declaredLost: 0, filtered: 0, missing: 0, mismatched: 0 };
  try {
    frames.pfns.forEach((pfn, index) => {
      if (!pfn) return;
      check.pages++;
      const paddr = pfn * PAGE_BYTES;
      if (lost.some((r) => paddr >= r.start && paddr < r.end)) {
        check.declaredLost++;
        return;
      }
      if (!dump.readPhys(paddr, actual)) {
        if (dumpLevel !== 0 && 'frameState' in dump && dump.frameState(pfn) === 'excluded') check.filtered++;
        else check.missing++;
        return;
      }
      patternPage(frames.seed, index, expected);
      if (Buffer.compare(expected, actual) === 0) check.intact++;
      else {
        check.mismatched++;
        check.firstMismatch ??= hex(paddr);
      }
    });
  } finally {
    dump.close();
  }
  return check;
}

/** makedumpfile --dump-dmesg of the dump: whether the crashed kernel's log holds the panic line. */
function dmesgHasPanicLine(dumpPath: string, outPath: string): boolean {
  const r = spawnSync('makedumpfile', ['--dump-dmesg', dumpPath, outPath], { encoding: 'utf8' });
  if (r.status !== 0 || !existsSync(outPath)) return false;
  return readAt(outPath, 0, statSync(outPath).size).toString('utf8').includes('sysrq: Trigger a crash');
}

/**
 * One real cycle: builds or reuses the images, boots OVMF and the stock kernel under QEMU, lets
 * the 1st kernel arm the handoff, write the pattern and panic (or reboot), follows the warm reset,
 * the loader's decision and the capture kernel's dump, then copies the dump out and judges it.
 */
export async function runLabCycle(o: LabRunOptions): Promise<LabResult> {
  const progress = o.onProgress ?? (() => undefined);
  const env: LabEnvironment = probeLabEnvironment();
  if (o.memoryBytes % MiB || o.memoryBytes < 512 * MiB || o.memoryBytes > 2 * GiB) {
    throw new ConfigError(`--memory must be a whole number of MiB from 512MiB to 2GiB, found ${formatSize(o.memoryBytes)}`, {
      field: '--memory',
    });
  }
  if (o.patternMiB * MiB > o.memoryBytes / 2)
    throw new ConfigError(`--pattern must be at most half the guest RAM (${formatSize(o.memoryBytes / 2)})`, { field: '--pattern' });
  mkdirSync(o.outDir, { recursive: true });
  const lines = labCommandLines(o);
  progress(`images: building or reusing in ${o.cacheDir}`);
  const predictionFile = o.footprintFrom === 'none' ? undefined : (o.footprintFrom ?? defaultFootprintFile(env, o.memoryBytes));
  let prediction: string | undefined;
  if (predictionFile) {
    const doc = readFootprint(predictionFile);
    if (doc.memoryBytes !== o.memoryBytes)
      throw new ConfigError(
        `the footprint was measured with ${formatSize(doc.memoryBytes)} of RAM, the run has ${formatSize(o.memoryBytes)}`,
        { file: predictionFile, field: 'memoryBytes' },
      );
    prediction = footprintPrediction(doc);
    progress(`footprint: the loader declares ${prediction.split('\n').filter(Boolean).length} ranges measured in ${predictionFile} lost`);
  }
  const images: LabImages = buildLabImages(
    env,
    { ...lines, design: labDesignFile(o.design, o.memoryBytes), snapshot: o.footprint, footprint: prediction },
    o.cacheDir,
  );
  for (const [name, piece] of Object.entries(images)) progress(`images: ${name} ${piece.built ? 'built' : 'cached'} (${piece.path})`);

  mkdirSync(o.workDir, { recursive: true });
  const work = mkdtempSync(join(o.workDir, 'efikdump-lab-'));
  const ramFile = join(work, 'ram');
  const resetSnapshot = join(work, 'ram-at-reset');
  const varsFile = join(work, 'vars.fd');
  const dataDisk = join(work, 'data.img');
  copyFileSync(env.firmware.vars, varsFile);
  writeFileSync(dataDisk, '');
  truncateSync(dataDisk, DUMP_OFFSET_BYTES + o.memoryBytes + 64 * MiB);

  const timeline: TimelineEntry[] = [];
  const loaderLines: Record<string, string>[] = [];
  const result: LabResult = {
    format: LAB_RESULT_FORMAT,
    design: o.design,
    memoryBytes: o.memoryBytes,
    kaslr: o.kaslr,
    action: o.action,
    outcome: 'no-dump',
    reason: '',
    timeline,
    loader: loaderLines,
    lostRanges: [],
    files: {},
    durations: { total: 0 },
    images: Object.fromEntries(Object.entries(images).map(([k, v]) => [k, { path: v.path, built: v.built }])),
    ...(predictionFile && prediction
      ? { prediction: { file: predictionFile, ranges: prediction.split('\n').filter(Boolean).length } }
      : {}),
  };
  const started = Date.now();
  const at = () => Date.now() - started;
  const mark = (phase: string, detail: string) => {
    timeline.push({ ms: at(), phase, detail });
    progress(`[${(at() / 1000).toFixed(1).padStart(6)} s] ${phase.padEnd(16)} ${detail}`);
  };
  const firstMs = (phase: string) => timeline.find((t) => t.phase === phase)?.ms;

  let machine: LabMachine | undefined;
  let footprint: LabFootprint | undefined;
  try {
    machine = await LabMachine.start({
      qemu: env.qemu,
      firmware: env.firmware,
      memoryBytes: o.memoryBytes,
      ramFile,
      varsFile,
      runDir: work,
      label: 'lab',
      espImage: images.esp.path,
      dataDisk,
      hardLimitMs: o.timeoutMs + 60_000,
    });
    const m = machine;
    const events: QmpEvent[] = [];
    m.qmp.onEvent((e) => events.push(e));
    await m.qmp.execute('set-action', { reboot: 'shutdown', shutdown: 'pause' });
    await m.qmp.execute('cont');
    mark('power-on', `QEMU ${formatSize(o.memoryBytes)} TCG, design ${o.design}, KASLR ${o.kaslr ? 'on' : 'off'}, action ${o.action}`);

    let offset = 0;
    let resets = 0;
    let resetAt: number | undefined;
    let normalBoots = 0;
    let done = false;
    while (!done) {
      if (at() > o.timeoutMs) {
        result.outcome = firstMs('capture-start') !== undefined ? 'capture-hang' : 'no-dump';
        result.reason = `the cycle did not finish within ${Math.round(o.timeoutMs / 1000)} s; the console ends with: ${m.serial.tail(3).split('\n').join(' | ')}`;
        break;
      }
      if (m.exited) {
        result.reason = `QEMU ended early: ${m.describeExit()}`;
        break;
      }
      // Only whole lines: QEMU may be in the middle of writing the last one.
      const all = m.serial.poll();
      const text = all.slice(0, all.lastIndexOf('\n') + 1);
      const segment = text.slice(offset);
      const found: { at: number; phase: string; detail: string }[] = [];
      for (const marker of KERNEL_MARKERS) {
        for (const f of segment.matchAll(new RegExp(marker.pattern.source, 'g')))
          found.push({ at: f.index ?? 0, phase: marker.name, detail: f[0].trim() });
      }
      const fresh: LabLine[] = parseLabLines(segment);
      offset = text.length;
      for (const f of found.sort((a, b) => a.at - b.at)) mark(f.phase, f.detail);
      for (const l of fresh) {
        if (l.source === 'loader') loaderLines.push({ event: l.event, ...l.fields, ...(l.event === 'cmdline' ? { cmdline: l.rest } : {}) });
        if (l.source === 'loader' && l.event === 'snapshot-wait') {
          if (o.footprint && resetAt !== undefined && !footprint) {
            await m.qmp.execute('stop');
            mark('loader-entry', 'RAM read at loader entry (guest paused)');
            const ranges = diffRamImages(resetSnapshot, ramFile, o.memoryBytes);
            footprint = footprintDocument(ranges, o.memoryBytes, 'ovmf', { resetToLoaderMs: at() - resetAt });
            mark('footprint', `${footprint.pages} pages changed between the reset and loader entry in ${footprint.summary.length} ranges`);
            rmSync(resetSnapshot, { force: true });
            await m.qmp.execute('cont');
          } else mark('loader-entry', resets ? 'loader started after the reset' : 'loader started');
          await m.pressEnter();
          continue;
        }
        if (l.source === 'loader' && l.event === 'entry' && !o.footprint) mark('loader-entry', l.rest);
        if (l.source === 'loader' && l.event === 'boot') {
          if (l.fields.mode === 'normal') normalBoots++;
          mark(l.fields.mode === 'capture' ? 'loader-capture' : 'loader-normal', l.rest);
        } else if (
          l.source === 'loader' &&
          ['handoff', 'claim', 'elfcorehdr', 'crash-records', 'records-consumed', 'zone', 'error'].includes(l.event)
        ) {
          mark(`loader-${l.event}`, l.rest);
        } else if (l.source === 'loader' && l.event === 'lost') {
          result.lostRanges.push({ start: l.fields.start, end: l.fields.end, reason: l.fields.reason });
        } else if (l.source === 'guest' && l.event === 'armed') {
          result.crashRegion = [Number(l.fields['crash-start']), Number(l.fields['crash-end'])];
          mark('armed', l.rest);
        } else if (l.source === 'guest') {
          mark(l.event === 'pattern' ? 'pattern-written' : `guest-${l.event}`, l.rest);
        } else if (l.source === 'init') {
          const phase = l.event === 'start' ? (l.fields.mode === 'capture' ? 'capture-start' : 'init-start') : l.event;
          mark(phase, l.rest);
          if (l.event === 'start' && l.fields.mode === 'normal' && resets > 0) {
            // Back in a normal 1st kernel after the reset: no capture happened.
            result.outcome = o.action === 'reboot' ? 'normal-boot' : 'no-dump';
            result.reason =
              o.action === 'reboot' ? 'a clean reboot booted normally: no capture' : 'the loader booted normally after the crash';
            done = true;
          }
        }
      }
      while (events.length) {
        const e = events.shift() as QmpEvent;
        if (e.event === 'SHUTDOWN' && e.data?.reason === 'guest-reset') {
          resets++;
          resetAt = at();
          mark(`reset`, `guest reset #${resets} (ResetSystem under QEMU: RAM kept)`);
          if (resets > 3) {
            result.reason = 'more than 3 resets: the loader or the capture kernel loops';
            done = true;
            break;
          }
          if (o.footprint && !footprint) copyFileSync(ramFile, resetSnapshot);
          await m.qmp.execute('set-action', { reboot: 'reset' });
          await m.qmp.execute('system_reset');
          await m.qmp.execute('cont');
          await m.qmp.execute('set-action', { reboot: 'shutdown' });
        } else if (e.event === 'SHUTDOWN') {
          mark('power-off', `guest ${String(e.data?.reason ?? 'shutdown')}`);
          done = true;
        }
      }
      if (normalBoots > 2) done = true;
      if (!done) await sleep(100);
    }
    await m.quit();
  } finally {
    machine?.kill();
  }
  result.durations.total = at();

  // Copy out: serial log, frames, dump.
  const serialOut = join(o.outDir, 'serial.log');
  copyFileSync(join(work, 'lab.serial.log'), serialOut);
  result.files.serial = serialOut;
  if (footprint) {
    const path = join(o.outDir, 'footprint.json');
    writeFileAtomic(path, JSON.stringify(footprint, null, 2) + '\n');
    result.footprint = { pages: footprint.pages, file: path };
    result.durations.resetToLoaderMs = footprint.timings.resetToLoaderMs;
  }
  const panicMs = firstMs('panic');
  const dumpMs = firstMs('dump-written');
  if (panicMs !== undefined && dumpMs !== undefined) result.durations.panicToDumpMs = dumpMs - panicMs;

  let frames: PatternFrames | undefined;
  if (o.patternMiB > 0) {
    try {
      frames = decodePatternFrames(readAt(dataDisk, 0, 16 + 8 * o.patternMiB * 256), dataDisk);
    } catch (e) {
      progress(`truth: no frame list on the data disk (${(e as Error).message})`);
    }
  }
  const excluded: [number, number][] = result.crashRegion ? [[result.crashRegion[0], result.crashRegion[1]]] : [];
  let truth: TruthManifest | undefined;
  if (frames) {
    const truthPath = join(o.outDir, 'truth.json');
    truth = patternTruth(frames, o.truthSample, excluded);
    writeFileAtomic(truthPath, JSON.stringify(truth) + '\n');
    result.files.truth = truthPath;
  }

  const captured = timeline.some((t) => t.phase === 'capture-start');
  const written = timeline.find((t) => t.phase === 'dump-written');
  if (o.action === 'reboot') {
    if (captured) {
      result.outcome = 'unexpected-capture';
      result.reason = 'a clean reboot started the capture kernel';
    }
  } else if (written && written.detail.includes('status=0')) {
    const dumpPath = join(o.outDir, o.format === 'elf' ? 'dump.vmcore' : 'dump.kdump');
    const tmp = `${dumpPath}.tmp`;
    rmSync(tmp, { force: true });
    const r = await rearrangeDump(dataDisk, tmp);
    if (!r.ok) {
      result.outcome = 'no-dump';
      result.reason = `makedumpfile -R could not rebuild the dump from the data disk: ${r.log.split('\n').slice(-2).join(' | ')}`;
    } else {
      renameSync(tmp, dumpPath);
      result.files.dump = dumpPath;
      mark('dump-copied', `${dumpPath} (${formatSize(statSync(dumpPath).size)})`);
      const lost = declaredLostRanges(dumpPath);
      result.dmesgPanicLine = dmesgHasPanicLine(dumpPath, join(o.outDir, 'dmesg.txt'));
      result.files.dmesg = join(o.outDir, 'dmesg.txt');
      if (frames) result.pattern = checkPattern(dumpPath, frames, lost, o.dumpLevel);
      if (truth) {
        // The truth as the dump's own declaration leaves it: declared-lost pages must be absent, the rest must match.
        const inLost = (paddr: number) => lost.some((r) => paddr >= r.start && paddr < r.end);
        const kept: TruthManifest = {
          ...truth,
          pages: truth.pages.filter((p) => !inLost(p.paddr)),
          excluded: [...truth.excluded, ...lost.map((r) => [r.start, r.end] as [number, number])],
        };
        const keptPath = join(o.outDir, 'truth-kept.json');
        writeFileAtomic(keptPath, JSON.stringify(kept) + '\n');
        result.files.truthKept = keptPath;
      }
      const p = result.pattern;
      if (p && (p.mismatched || p.missing)) {
        result.outcome = 'dump-corrupt';
        result.reason = `${p.mismatched} pattern pages differ (first at ${p.firstMismatch ?? '-'}) and ${p.missing} are missing without a declaration`;
      } else if (!result.dmesgPanicLine) {
        result.outcome = 'dump-corrupt';
        result.reason = 'makedumpfile --dump-dmesg does not show the panic line';
      } else if (p && p.declaredLost) {
        result.outcome = 'dump-partial';
        result.reason = `${p.declaredLost} of ${p.pages} pattern pages in ${lost.length} declared lost ranges; the other ${p.intact} match the truth`;
      } else {
        result.outcome = 'dump-complete';
        result.reason = p
          ? `all ${p.intact} pattern pages match the truth; the panic line is in the dump's dmesg`
          : "the panic line is in the dump's dmesg";
      }
    }
  } else if (written) {
    result.outcome = 'no-dump';
    result.reason = `makedumpfile in the capture kernel failed (${written.detail})`;
  } else if (!result.reason) {
    result.reason = captured ? 'the capture kernel wrote no dump' : 'no capture kernel ran';
  }

  const timelinePath = join(o.outDir, 'timeline.json');
  writeFileAtomic(timelinePath, JSON.stringify(timeline, null, 2) + '\n');
  result.files.timeline = timelinePath;
  const resultPath = join(o.outDir, 'result.json');
  result.files.result = resultPath;
  writeFileAtomic(resultPath, JSON.stringify(result, null, 2) + '\n');
  if (!o.keepWork) rmSync(work, { recursive: true, force: true });
  else progress(`work files kept in ${work}`);
  return result;
}
