import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { join } from 'node:path';
import { MiB } from '@efikdump/core';
import type { FirmwareFiles } from './probe-environment';
import { ProbeError } from './probe-error';
import { QmpClient } from './qmp-client';
import { SerialLog, findPostProgress, type PostIdleState } from './serial-console';

export interface QemuMachineConfig {
  qemu: string;
  accel: 'kvm' | 'tcg';
  memoryBytes: number;
  /** The file that backs guest RAM (memory-backend-file, share=on): the host reads and writes it. */
  ramFile: string;
  firmware: FirmwareFiles;
  /** The writable copy of the VARS template this machine boots with. */
  varsFile: string;
  /** Directory for this machine's QMP socket and serial log. */
  runDir: string;
  /** Names this machine's files inside runDir ("boot-1" → boot-1.serial.log). */
  label: string;
  /** Wall-clock limit after which `timeout -s KILL` ends QEMU even if this process died. */
  hardLimitMs: number;
  /** Time QEMU may take to open its QMP socket (default 15 s). */
  connectTimeoutMs?: number;
}

export interface PostTiming {
  state: PostIdleState;
  /** From `cont` to the boot manager's first line. */
  bdsMs: number;
  /** From `cont` to the idle prompt. */
  idleMs: number;
}

/** QEMU option values are comma-separated: a literal comma is written twice. */
const optValue = (s: string): string => s.replace(/,/g, ',,');

/**
 * The QEMU command line (without the `timeout` wrapper): q35, guest RAM from a shared file, OVMF
 * as two pflash devices, no default devices, no display, no network, the serial console into a
 * file, QMP on a unix socket, stopped before the first instruction (-S) so nothing runs before
 * the probe is connected. The serial console goes to a file because a socket backend drops
 * bytes when it is not drained fast enough (QEMU's 16550 gives up after 4 retries).
 */
export function qemuArgs(c: QemuMachineConfig): string[] {
  if (c.memoryBytes % MiB !== 0) throw new ProbeError(`guest RAM must be a whole number of MiB, found ${c.memoryBytes} bytes`);
  const machine = ['q35', `accel=${c.accel}`, 'memory-backend=ram0'];
  if (c.firmware.secureBoot) machine.push('smm=on');
  const args = [
    '-name',
    `efikdump-probe-${c.label}`,
    '-no-user-config',
    '-nodefaults',
    '-machine',
    machine.join(','),
    '-m',
    `${c.memoryBytes / MiB}M`,
    '-object',
    `memory-backend-file,id=ram0,size=${c.memoryBytes},mem-path=${optValue(c.ramFile)},share=on`,
    '-smp',
    '1',
    '-drive',
    `if=pflash,format=raw,unit=0,readonly=on,file=${optValue(c.firmware.code)}`,
    '-drive',
    `if=pflash,format=raw,unit=1,file=${optValue(c.varsFile)}`,
  ];
  // An SMM-enforcing (Secure Boot) build only runs with SMM and flash writable from SMM alone.
  if (c.firmware.secureBoot) args.push('-global', 'driver=cfi.pflash01,property=secure,value=on');
  args.push(
    '-display',
    'none',
    '-nic',
    'none',
    '-chardev',
    `file,id=console0,path=${optValue(serialLogPath(c))}`,
    '-serial',
    'chardev:console0',
    '-qmp',
    `unix:${optValue(qmpSocketPath(c))},server=on,wait=off`,
    '-S',
  );
  return args;
}

export const qmpSocketPath = (c: Pick<QemuMachineConfig, 'runDir' | 'label'>): string => join(c.runDir, `${c.label}.qmp`);
export const serialLogPath = (c: Pick<QemuMachineConfig, 'runDir' | 'label'>): string => join(c.runDir, `${c.label}.serial.log`);

/** Every QEMU this process started and has not seen exit; killed when the process exits. */
const live = new Set<QemuMachine>();
let exitHookInstalled = false;

/** Kills every QEMU process group this process started (synchronous: safe in an exit handler). */
export function killAllQemu(): number {
  let n = 0;
  for (const m of [...live]) {
    m.kill();
    n++;
  }
  return n;
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => killAllQemu());
}

function findTimeoutBinary(): string | undefined {
  for (const p of ['/usr/bin/timeout', '/bin/timeout']) {
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const KEY_QCODES: Record<string, string> = { '\r': 'ret', ' ': 'spc', '-': 'minus' };
const TAIL_BYTES = 8192;

/**
 * One QEMU process, in its own process group (so a kill reaches QEMU and the `timeout` wrapper
 * together), driven over QMP. `kill()` is synchronous and idempotent; every exit path of the
 * probe calls it, and a process `exit` hook calls it for machines still alive.
 */
export class QemuMachine {
  readonly serial: SerialLog;
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exitPromise: Promise<void>;
  private stderrTail = '';
  private qmpClient: QmpClient | undefined;
  private resumedAt = 0;

  private constructor(
    readonly config: QemuMachineConfig,
    private readonly child: ChildProcess,
  ) {
    this.serial = new SerialLog(serialLogPath(config));
    const keep = (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-TAIL_BYTES);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exitPromise = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        live.delete(this);
        resolve();
      });
      child.on('error', (e) => {
        this.stderrTail += `\n${e.message}`;
        this.exitInfo ??= { code: null, signal: null };
        live.delete(this);
        resolve();
      });
    });
  }

  /** Starts QEMU stopped (-S) and connects QMP. Kills QEMU if any step fails. */
  static async start(config: QemuMachineConfig): Promise<QemuMachine> {
    installExitHook();
    const args = qemuArgs(config);
    const timeoutBin = findTimeoutBinary();
    const limitS = Math.max(1, Math.ceil(config.hardLimitMs / 1000));
    const [cmd, argv] = timeoutBin ? [timeoutBin, ['-s', 'KILL', `${limitS}`, config.qemu, ...args]] : [config.qemu, args];
    const child = spawn(cmd, argv, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const machine = new QemuMachine(config, child);
    if (child.pid !== undefined) live.add(machine);
    try {
      machine.qmpClient = await machine.connectQmp(config.connectTimeoutMs ?? 15_000);
      return machine;
    } catch (e) {
      machine.kill();
      await machine.waitForExit(5_000);
      throw e;
    }
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get qmp(): QmpClient {
    if (!this.qmpClient) throw new ProbeError('QEMU is not connected');
    return this.qmpClient;
  }

  get exited(): boolean {
    return this.exitInfo !== undefined;
  }

  /** How QEMU ended (status or signal, and the end of its stderr), for error messages. */
  describeExit(): string {
    if (!this.exitInfo) return 'QEMU is running';
    const how = this.exitInfo.signal ? `was killed by ${this.exitInfo.signal}` : `exited with status ${this.exitInfo.code}`;
    const err = this.stderrTail.trim();
    return `QEMU ${how}${err ? `: ${err.split('\n').slice(-6).join(' | ')}` : ''}`;
  }

  private async connectQmp(timeoutMs: number): Promise<QmpClient> {
    const path = qmpSocketPath(this.config);
    const deadline = Date.now() + timeoutMs;
    let lastError = 'socket not created';
    while (Date.now() < deadline) {
      if (this.exited) throw new ProbeError(`QEMU did not start: ${this.describeExit()}`, { file: this.config.qemu });
      if (existsSync(path)) {
        try {
          return await QmpClient.connect(path, { connectTimeoutMs: Math.max(1000, deadline - Date.now()) });
        } catch (e) {
          lastError = (e as Error).message;
        }
      }
      await sleep(50);
    }
    throw new ProbeError(`QEMU's QMP socket did not answer within ${timeoutMs} ms (${lastError})`, { file: path });
  }

  /**
   * Types `text` (lowercase letters, digits, space, '-', '\r' for Enter) on q35's PS/2 keyboard
   * with QMP send-key; OVMF's boot manager puts that keyboard on ConIn.
   */
  async type(text: string): Promise<void> {
    for (const ch of text) {
      const qcode = KEY_QCODES[ch] ?? (/^[a-z0-9]$/.test(ch) ? ch : undefined);
      if (qcode === undefined) throw new ProbeError(`cannot type ${JSON.stringify(ch)} with send-key`);
      await this.qmp.execute('send-key', { keys: [{ type: 'qcode', data: qcode }] });
      await sleep(20);
    }
  }

  async resume(): Promise<void> {
    this.resumedAt = Date.now();
    await this.qmp.execute('cont');
  }

  /** `stop`, then checks the run state really is paused. */
  async pause(): Promise<void> {
    await this.qmp.execute('stop');
    const status = await this.qmp.status();
    if (status === 'running') throw new ProbeError(`QEMU still runs after stop (status ${status})`, { file: qmpSocketPath(this.config) });
  }

  /**
   * QMP `system_reset`: QEMU's machine reset (qemu_system_reset: every device reset, the CPU at
   * its reset vector, ROMs reloaded; RAM untouched) — the same path a guest's reset request
   * takes (ICH9 reset control 0xCF9 or the keyboard controller's 0xFE pulse).
   */
  async systemReset(): Promise<void> {
    const since = this.qmp.events.length;
    await this.qmp.execute('system_reset');
    await this.qmp.waitForEvent('RESET', 10_000, since);
  }

  /**
   * Polls the serial log until the firmware is idle after POST (see IDLE_MARKERS), looking only
   * at output after `fromMark`; then waits `settleMs` more. Fails if QEMU exits or time runs out.
   */
  async waitForPost(fromMark: number, timeoutMs: number, settleMs = 500, pollMs = 100): Promise<PostTiming> {
    const started = this.resumedAt || Date.now();
    const deadline = Date.now() + timeoutMs;
    let bdsMs: number | undefined;
    for (;;) {
      const progress = findPostProgress(this.serial.poll(), fromMark);
      if (progress.bdsAt !== undefined && bdsMs === undefined) bdsMs = Date.now() - started;
      if (progress.idle) {
        const idleMs = Date.now() - started;
        await sleep(settleMs);
        return { state: progress.idle.state, bdsMs: bdsMs ?? idleMs, idleMs };
      }
      if (this.exited) {
        throw new ProbeError(`the firmware did not finish POST: ${this.describeExit()}${this.serialSummary()}`, {
          file: serialLogPath(this.config),
          serialTail: this.serial.tail(),
        });
      }
      if (Date.now() > deadline) {
        throw new ProbeError(
          `the firmware did not reach the UEFI Shell prompt or the boot manager's "Press any key" within ${Math.round(timeoutMs / 1000)} s${this.serialSummary()}`,
          { file: serialLogPath(this.config), serialTail: this.serial.tail() },
        );
      }
      await sleep(pollMs);
    }
  }

  /** The end of the serial console for an error message, on one line. */
  private serialSummary(): string {
    const tail = this.serial.tail(4);
    return tail ? `; the serial console ends with: ${tail.split('\n').join(' | ')}` : '; the serial console printed nothing';
  }

  /** Types a shell command and returns the console text it printed, up to the next prompt. */
  async shellCommand(command: string, timeoutMs = 30_000): Promise<string> {
    const mark = this.serial.mark();
    await this.type(`${command}\r`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = this.serial.poll();
      const prompt = text.indexOf('Shell> ', mark);
      if (prompt >= 0) return text.slice(mark, prompt);
      if (this.exited)
        throw new ProbeError(`QEMU exited during "${command}": ${this.describeExit()}`, { file: serialLogPath(this.config) });
      if (Date.now() > deadline)
        throw new ProbeError(`the shell did not finish "${command}" within ${timeoutMs} ms`, {
          file: serialLogPath(this.config),
          serialTail: this.serial.tail(),
        });
      await sleep(100);
    }
  }

  /** QMP `quit`, then waits for the process; kills it if it does not go. */
  async quit(timeoutMs = 10_000): Promise<void> {
    if (this.exited) return;
    try {
      await this.qmp.execute('quit', undefined, timeoutMs);
    } catch {
      /* QEMU may close the socket before answering */
    }
    if (!(await this.waitForExit(timeoutMs))) this.kill();
    await this.waitForExit(5_000);
    this.closeSockets();
  }

  /** SIGKILL to the whole process group; synchronous, safe to call any number of times. */
  kill(): void {
    this.closeSockets();
    if (this.exited || this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, 'SIGKILL');
    } catch {
      try {
        this.child.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }

  /** True when QEMU exited within `timeoutMs`. */
  async waitForExit(timeoutMs: number): Promise<boolean> {
    if (this.exited) return true;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((r) => {
      timer = setTimeout(() => r(false), timeoutMs);
    });
    const result = await Promise.race([this.exitPromise.then(() => true), timedOut]);
    clearTimeout(timer);
    return result;
  }

  private closeSockets(): void {
    this.qmpClient?.close();
  }
}
