import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { IoError } from '@efikdump/core';
import { QmpClient, SerialLog, qemuArgs, type FirmwareFiles } from '@efikdump/firmware-uefi';

export interface LabMachineConfig {
  qemu: string;
  firmware: FirmwareFiles;
  memoryBytes: number;
  /** Guest RAM's backing file (shared): the host reads it for the footprint snapshots. */
  ramFile: string;
  varsFile: string;
  runDir: string;
  label: string;
  /** The FAT ESP with the loader, attached read-only as the first virtio disk (boot order 1). */
  espImage: string;
  /** The data disk: the truth's frame list at 0, the dump at 16 MiB. */
  dataDisk: string;
  hardLimitMs: number;
}

/** QEMU option values are comma-separated: a literal comma is written twice. */
const optValue = (s: string): string => s.replace(/,/g, ',,');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The retention probe's machine (firmware-uefi's qemuArgs: q35, OVMF on pflash, RAM from a shared
 * file, serial console into a file, QMP, stopped with -S) plus the lab's two virtio disks.
 */
export function labQemuArgs(c: LabMachineConfig): string[] {
  const base = qemuArgs({
    qemu: c.qemu,
    accel: 'tcg',
    memoryBytes: c.memoryBytes,
    ramFile: c.ramFile,
    firmware: c.firmware,
    varsFile: c.varsFile,
    runDir: c.runDir,
    label: c.label,
    hardLimitMs: c.hardLimitMs,
  });
  return [
    ...base,
    '-drive',
    `if=none,id=esp,format=raw,readonly=on,file=${optValue(c.espImage)}`,
    '-device',
    'virtio-blk-pci,drive=esp,bootindex=1,addr=0x4',
    '-drive',
    `if=none,id=data,format=raw,cache=unsafe,file=${optValue(c.dataDisk)}`,
    '-device',
    'virtio-blk-pci,drive=data,addr=0x5',
  ];
}

const live = new Set<LabMachine>();
let hookInstalled = false;

/** Kills every lab QEMU this process started (synchronous, for exit and signal handlers). */
export function killAllLabMachines(): number {
  const n = live.size;
  for (const m of [...live]) m.kill();
  return n;
}

/** One QEMU process group for a lab run, driven over QMP, its console read from the log file. */
export class LabMachine {
  readonly serial: SerialLog;
  private exitInfo: { code: number | null; signal: string | null } | undefined;
  private stderrTail = '';
  readonly exitPromise: Promise<void>;
  private client: QmpClient | undefined;

  private constructor(
    readonly config: LabMachineConfig,
    private readonly child: ChildProcess,
  ) {
    this.serial = new SerialLog(join(config.runDir, `${config.label}.serial.log`));
    const keep = (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-4096);
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
        this.stderrTail += e.message;
        this.exitInfo ??= { code: null, signal: null };
        live.delete(this);
        resolve();
      });
    });
  }

  static async start(config: LabMachineConfig): Promise<LabMachine> {
    if (!hookInstalled) {
      hookInstalled = true;
      process.on('exit', () => killAllLabMachines());
    }
    const limitS = Math.max(1, Math.ceil(config.hardLimitMs / 1000));
    const child = spawn('timeout', ['-s', 'KILL', String(limitS), config.qemu, ...labQemuArgs(config)], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const machine = new LabMachine(config, child);
    live.add(machine);
    const socket = join(config.runDir, `${config.label}.qmp`);
    const deadline = Date.now() + 20_000;
    let last = 'socket not created';
    while (Date.now() < deadline) {
      if (machine.exited) break;
      if (existsSync(socket)) {
        try {
          machine.client = await QmpClient.connect(socket, { connectTimeoutMs: 5_000, commandTimeoutMs: 60_000 });
          return machine;
        } catch (e) {
          last = (e as Error).message;
        }
      }
      await sleep(50);
    }
    machine.kill();
    throw new IoError(`QEMU did not start: ${machine.exited ? machine.describeExit() : last}`, { file: config.qemu });
  }

  get qmp(): QmpClient {
    if (!this.client) throw new IoError('QEMU is not connected', { file: this.config.qemu });
    return this.client;
  }

  get exited(): boolean {
    return this.exitInfo !== undefined;
  }

  describeExit(): string {
    if (!this.exitInfo) return 'QEMU is running';
    const how = this.exitInfo.signal ? `was killed by ${this.exitInfo.signal}` : `exited with status ${this.exitInfo.code}`;
    const err = this.stderrTail.trim();
    return `QEMU ${how}${err ? `: ${err.split('\n').slice(-4).join(' | ')}` : ''}`;
  }

  /** Presses Enter on the PS/2 keyboard (OVMF's ConIn). */
  async pressEnter(): Promise<void> {
    await this.qmp.execute('send-key', { keys: [{ type: 'qcode', data: 'ret' }] });
  }

  async quit(): Promise<void> {
    if (!this.exited) {
      try {
        await this.qmp.execute('quit', undefined, 5_000);
      } catch {
        /* QEMU may close the socket before it answers */
      }
      await Promise.race([this.exitPromise, sleep(10_000)]);
    }
    this.kill();
  }

  kill(): void {
    this.client?.close();
    if (this.exited || this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}
