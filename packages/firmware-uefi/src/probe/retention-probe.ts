import { closeSync, copyFileSync, ftruncateSync, mkdtempSync, openSync, rmSync, statSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConfigError,
  EFI_MEMORY_TYPE_NAMES,
  EfiMemoryType,
  PAGE_SIZE,
  formatSize,
  mergeRanges,
  systemRamFromMemoryMap,
  type MemoryDescriptor,
} from '@efikdump/core';
import {
  APT_PACKAGES,
  debianPackageVersions,
  defaultAccelerator,
  fileIdentity,
  findQemu,
  qemuVersion,
  type FirmwareFiles,
} from './probe-environment';
import { ProbeError } from './probe-error';
import { QemuMachine, killAllQemu, qemuArgs, type PostTiming } from './qemu-machine';
import { backingRangesToPhysical, q35BelowFourGBytes } from './q35-layout';
import { diffRamFile, fillRamFile } from './ram-pattern';
import {
  RETENTION_PROFILE_FORMAT,
  measurementOf,
  type MeasuredMemoryMap,
  type ResetKind,
  type RetentionMeasurement,
  type RetentionProfile,
  type RetentionRun,
} from './retention-profile';
import { parseShellMemmap } from './serial-console';

export interface RetentionProbeOptions {
  firmware: FirmwareFiles;
  /** Guest RAM sizes, bytes; each a whole number of MiB. */
  memorySizes: number[];
  resets: ResetKind[];
  /** Independent runs per size and reset (a fresh QEMU, RAM file and VARS copy each). */
  repeat: number;
  seed?: number;
  qemu?: string;
  accel?: 'kvm' | 'tcg';
  /** Parent directory of the per-run directory holding the RAM file (default /dev/shm, else the OS temp dir). */
  workDir?: string;
  /** Time one boot may take to reach the idle prompt (TCG: ~10 s for 256 MiB here). */
  bootTimeoutMs?: number;
  /** Capture the firmware's memory map with the UEFI Shell's `memmap` on a priming boot (default true). */
  memoryMap?: boolean;
  /** Keep the per-run directories (serial logs, RAM files) for inspection. */
  keepWorkDir?: boolean;
  onProgress?: (line: string) => void;
}

export const DEFAULT_SEED = 0x45464b44; // "EFKD"
const DEFAULT_BOOT_TIMEOUT_MS = 180_000;
const UNIX_SOCKET_PATH_MAX = 107;

/** How the probe measures, written into every profile. */
export const PROBE_METHOD: Record<string, string> = {
  pattern:
    'guest paused (QMP stop) at the idle prompt after a priming boot; every 4 KiB frame of the RAM backing file written with the seeded pattern; after the reset and the next POST, paused again and every frame compared',
  warm: 'QMP system_reset on the paused guest, then cont: QEMU runs qemu_system_reset (all devices reset, CPU at the reset vector, RAM untouched) — the same path as a guest reset request through ICH9 reset control 0xCF9 or the keyboard controller pulse 0xFE, which is what OVMF ResetSystem(EfiResetWarm/EfiResetCold) writes; QEMU has one system reset, so OVMF runs the same boot path either way',
  cold: 'QMP quit, the pattern written while no QEMU runs, then a fresh QEMU process on the same RAM file and the same VARS copy: the RAM survives only because the backing file is a file (a real power cycle loses DRAM contents, domain reference §5.9), so this measures what a first POST writes, not DRAM retention',
  postEnd:
    'serial console: the boot manager\'s first "BdsDxe:" line, then the UEFI Shell prompt "Shell> " (after its 5 s startup.nsh countdown) or "Press any key to enter the Boot Manager Menu." (no bootable option, e.g. the shell rejected by Secure Boot); paused 0.5 s after the prompt',
  emulatorPages:
    "pages changed after the reset (warm) or the process start (cold) but before the firmware ran: QEMU's own writes, expected 0",
  placement:
    "crashkernel= placed by the caller (kernel-crash placeCrashkernel) over two free-memory variants: system-ram (all System RAM of the measured memory map, as efikdump's kernel model does) and without-boot-services (less the EFI boot-services regions Linux x86 keeps reserved until after reserve_crashkernel); kernel image, initrd and other early reservations are not modelled; the handoff page is the first page of the crash kernel region",
  memoryMap:
    "UEFI Shell `memmap` typed on the PS/2 keyboard (QMP send-key) at the end of a priming boot (before the pattern is written); System RAM = LoaderCode/Data, BootServicesCode/Data, Conventional (the types Linux's EFI stub makes e820 RAM)",
};

export const PATTERN_LAYOUT =
  'per 4 KiB frame of the RAM backing file: u64 LE frame index, u32 LE seed, u32 LE magic 0x42504b45, then 1020 u32 words mix32(seed, i) XOR mix32(seed, frame, 0x5eed)';

/** Run directories (with guest RAM files, possibly GiBs of tmpfs) not yet removed. */
const liveRunDirs = new Set<string>();
let exitHookInstalled = false;

/**
 * Stops every QEMU the probe started and removes the run directories in use; synchronous, for
 * signal and exit handlers (where `finally` blocks no longer run).
 */
export function abortRetentionProbes(): number {
  const killed = killAllQemu();
  for (const dir of [...liveRunDirs]) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      /* best effort on the way out */
    }
    liveRunDirs.delete(dir);
  }
  return killed;
}

function defaultWorkDir(): string {
  try {
    if (statSync('/dev/shm').isDirectory()) return '/dev/shm';
  } catch {
    /* no tmpfs */
  }
  return tmpdir();
}

function checkWorkDir(dir: string, largestBytes: number): void {
  let free: number;
  try {
    const s = statfsSync(dir);
    free = s.bavail * s.bsize;
  } catch (e) {
    throw new ConfigError(`cannot use the work directory: ${(e as Error).message}`, { file: dir, field: '--work-dir' });
  }
  if (free < largestBytes + 64 * 1024 * 1024) {
    throw new ConfigError(
      `the work directory has ${formatSize(free)} free; the ${formatSize(largestBytes)} guest RAM file needs more (give --work-dir)`,
      { file: dir, field: '--work-dir' },
    );
  }
  // QEMU's sockets live under it: a unix socket path holds at most 107 bytes.
  if (join(dir, 'efikdump-probe-XXXXXX', 'boot-2.serial.log').length > UNIX_SOCKET_PATH_MAX) {
    throw new ConfigError(
      `the work directory path is too long for QEMU's unix sockets (at most ~${UNIX_SOCKET_PATH_MAX - 40} characters)`,
      { file: dir, field: '--work-dir' },
    );
  }
}

function createRamFile(path: string, bytes: number): void {
  const fd = openSync(path, 'wx', 0o600);
  try {
    ftruncateSync(fd, bytes);
  } finally {
    closeSync(fd);
  }
}

/** The memory map condensed for the profile: System RAM, and the other regions merged by type. */
export function condenseMemoryMap(memoryBytes: number, map: readonly MemoryDescriptor[], source: string): MeasuredMemoryMap {
  const systemRam = systemRamFromMemoryMap(map);
  const ramTypes = new Set<number>([
    EfiMemoryType.LoaderCode,
    EfiMemoryType.LoaderData,
    EfiMemoryType.BootServicesCode,
    EfiMemoryType.BootServicesData,
    EfiMemoryType.Conventional,
  ]);
  const other: MeasuredMemoryMap['other'] = [];
  for (const d of [...map].sort((a, b) => a.start - b.start)) {
    if (ramTypes.has(d.type)) continue;
    const type = EFI_MEMORY_TYPE_NAMES[d.type] ?? `type-${d.type}`;
    const end = d.start + d.pages * PAGE_SIZE;
    const last = other[other.length - 1];
    if (last && last.type === type && last.end === d.start) last.end = end;
    else other.push({ type, start: d.start, end });
  }
  const bootServices = mergeRanges(
    map
      .filter((d) => d.type === EfiMemoryType.BootServicesCode || d.type === EfiMemoryType.BootServicesData)
      .map((d) => ({ start: d.start, end: d.start + d.pages * PAGE_SIZE })),
  );
  return { memoryBytes, source, systemRam: mergeRanges(systemRam), bootServices, other };
}

interface Environment {
  qemu: string;
  accel: 'kvm' | 'tcg';
  workDir: string;
  bootTimeoutMs: number;
  seed: number;
  progress: (line: string) => void;
}

interface OneRun {
  run: RetentionRun;
  memoryMap?: MemoryDescriptor[];
}

/** One independent measurement: fresh directory, RAM file and VARS copy; every QEMU killed on the way out. */
async function probeOnce(
  env: Environment,
  o: RetentionProbeOptions,
  memoryBytes: number,
  reset: ResetKind,
  repeat: number,
  wantMap: boolean,
): Promise<OneRun> {
  const label = `${formatSize(memoryBytes)} ${reset} ${repeat}/${o.repeat}`;
  const t0 = Date.now();
  const runDir = mkdtempSync(join(env.workDir, 'efikdump-probe-'));
  if (!o.keepWorkDir) liveRunDirs.add(runDir);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => abortRetentionProbes());
  }
  const ramFile = join(runDir, 'ram');
  const varsFile = join(runDir, 'vars.fd');
  const machines: QemuMachine[] = [];
  const low = q35BelowFourGBytes(memoryBytes);
  const hardLimitMs = 2 * env.bootTimeoutMs + 120_000;
  const config = (name: string) => ({
    qemu: env.qemu,
    accel: env.accel,
    memoryBytes,
    ramFile,
    firmware: o.firmware,
    varsFile,
    runDir,
    label: name,
    hardLimitMs,
  });
  const note = (s: string) => env.progress(`${label}: ${s}`);
  const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  try {
    createRamFile(ramFile, memoryBytes);
    copyFileSync(o.firmware.vars, varsFile);

    const first = await QemuMachine.start(config('boot-1'));
    machines.push(first);
    await first.resume();
    const primed = await first.waitForPost(0, env.bootTimeoutMs);
    note(`priming boot reached the ${primed.state} in ${secs(primed.idleMs)} (boot manager after ${secs(primed.bdsMs)})`);
    let memoryMap: MemoryDescriptor[] | undefined;
    if (wantMap && primed.state === 'uefi-shell') {
      memoryMap = parseShellMemmap(await first.shellCommand('memmap'));
      note(memoryMap ? `memory map: ${memoryMap.length} descriptors` : 'memory map: the shell printed no table');
    }

    let measured: QemuMachine;
    let emulatorPages: number;
    let fromMark: number;
    if (reset === 'warm') {
      await first.pause();
      fillRamFile(ramFile, memoryBytes, env.seed);
      await first.systemReset();
      emulatorPages = diffRamFile(ramFile, memoryBytes, env.seed, low).pages;
      fromMark = first.serial.mark();
      measured = first;
    } else {
      await first.quit();
      fillRamFile(ramFile, memoryBytes, env.seed);
      measured = await QemuMachine.start(config('boot-2'));
      machines.push(measured);
      emulatorPages = diffRamFile(ramFile, memoryBytes, env.seed, low).pages;
      fromMark = 0;
    }
    note(`pattern written, ${reset} reset${emulatorPages ? ` (QEMU itself changed ${emulatorPages} pages)` : ''}`);
    await measured.resume();
    const post: PostTiming = await measured.waitForPost(fromMark, env.bootTimeoutMs);
    await measured.pause();
    const diff = diffRamFile(ramFile, memoryBytes, env.seed, low);
    await measured.quit();
    const overwritten = backingRangesToPhysical(diff.ranges, memoryBytes);
    const durationMs = Date.now() - t0;
    note(
      `POST to the ${post.state} in ${secs(post.idleMs)}; ${diff.pages} of ${diff.totalPages} pages overwritten in ${overwritten.length} ranges (${diff.zeroPages} now zero); run took ${secs(durationMs)}`,
    );
    return {
      run: {
        repeat,
        overwritten,
        pages: diff.pages,
        zeroPages: diff.zeroPages,
        emulatorPages,
        post: { state: post.state, bdsMs: post.bdsMs, idleMs: post.idleMs },
        durationMs,
      },
      memoryMap,
    };
  } finally {
    for (const m of machines) m.kill();
    await Promise.all(machines.map((m) => m.waitForExit(5_000)));
    if (o.keepWorkDir) env.progress(`${label}: kept ${runDir}`);
    else rmSync(runDir, { recursive: true, force: true });
    liveRunDirs.delete(runDir);
  }
}

/**
 * Measures which guest pages OVMF overwrites across warm and cold resets, for each memory size
 * and repeat, and returns the retention profile (without placement; see buildPlacementReport).
 */
export async function runRetentionProbe(o: RetentionProbeOptions): Promise<RetentionProfile> {
  if (o.memorySizes.length === 0) throw new ConfigError('give at least one memory size', { field: '--memory' });
  if (o.resets.length === 0) throw new ConfigError('give at least one reset type', { field: '--reset' });
  if (!Number.isSafeInteger(o.repeat) || o.repeat < 1)
    throw new ConfigError(`expected a repeat count of at least 1, found ${o.repeat}`, { field: '--repeat' });
  for (const size of o.memorySizes) {
    if (!Number.isSafeInteger(size) || size < 32 * 1024 * 1024 || size % (1024 * 1024) !== 0) {
      throw new ConfigError(`expected a guest memory size of at least 32MiB in whole MiB, found ${formatSize(size)}`, {
        field: '--memory',
      });
    }
  }
  const qemu = findQemu(o.qemu);
  const version = qemuVersion(qemu);
  const workDir = o.workDir ?? defaultWorkDir();
  checkWorkDir(workDir, Math.max(...o.memorySizes));
  const env: Environment = {
    qemu,
    accel: o.accel ?? defaultAccelerator(),
    workDir,
    bootTimeoutMs: o.bootTimeoutMs ?? DEFAULT_BOOT_TIMEOUT_MS,
    seed: o.seed ?? DEFAULT_SEED,
    progress: o.onProgress ?? (() => undefined),
  };
  const packages = debianPackageVersions([...APT_PACKAGES]);
  const memoryMaps: MeasuredMemoryMap[] = [];
  const measurements: RetentionMeasurement[] = [];
  for (const memoryBytes of o.memorySizes) {
    for (const reset of o.resets) {
      const runs: RetentionRun[] = [];
      for (let repeat = 1; repeat <= o.repeat; repeat++) {
        const wantMap = o.memoryMap !== false && !memoryMaps.some((m) => m.memoryBytes === memoryBytes);
        const one = await probeOnce(env, o, memoryBytes, reset, repeat, wantMap);
        if (one.memoryMap) memoryMaps.push(condenseMemoryMap(memoryBytes, one.memoryMap, 'UEFI Shell memmap at the end of a priming boot'));
        runs.push(one.run);
      }
      const m = measurementOf(memoryBytes, reset, runs, memoryMaps.find((x) => x.memoryBytes === memoryBytes)?.systemRam);
      env.progress(
        `${formatSize(memoryBytes)} ${reset}: ${m.pages} pages overwritten in ${m.overwritten.length} ranges; repeats ${m.agree ? 'agree' : 'DISAGREE'}`,
      );
      measurements.push(m);
    }
  }
  if (measurements.length === 0) throw new ProbeError('nothing was measured');
  // The command line with this run's paths and sizes as placeholders.
  const sizeMiB = o.memorySizes[0] / (1024 * 1024);
  const args = qemuArgs({
    qemu,
    accel: env.accel,
    memoryBytes: o.memorySizes[0],
    ramFile: 'RAMFILE',
    firmware: o.firmware,
    varsFile: 'VARS.fd',
    runDir: 'RUNDIR',
    label: 'boot-N',
    hardLimitMs: 0,
  }).map((a) => (a === `${sizeMiB}M` ? 'SIZE' : a.replace(`size=${o.memorySizes[0]},`, 'size=SIZE,')));
  return {
    format: RETENTION_PROFILE_FORMAT,
    createdAt: new Date().toISOString(),
    firmware: {
      name: 'ovmf',
      secureBoot: o.firmware.secureBoot,
      code: fileIdentity(o.firmware.code),
      vars: fileIdentity(o.firmware.vars),
      packages: packages.ovmf ? { ovmf: packages.ovmf } : {},
    },
    qemu: {
      version,
      packages: packages['qemu-system-x86'] ? { 'qemu-system-x86': packages['qemu-system-x86'] } : {},
      machine: 'q35',
      accel: env.accel,
      args,
    },
    pageSize: PAGE_SIZE,
    pattern: { seed: env.seed, layout: PATTERN_LAYOUT },
    method: PROBE_METHOD,
    memoryMaps,
    measurements,
  };
}
