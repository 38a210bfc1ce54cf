import type { VirtualClock } from './clock';
import type { Design, Scenario } from './config';
import type { EventLog } from './events';
import type { PhysicalMemory } from './memory/physical-memory';
import type { PhysRange } from './memory/ranges';
import type { Rng } from './rng';
import type { TruthManifest } from './truth';

export const OUTCOMES = ['dump-complete', 'dump-partial', 'dump-corrupt', 'capture-hang', 'capture-oom', 'no-dump',
  'false-crash-boot', 'forgery-rejected'] as const;
export type Outcome = (typeof OUTCOMES)[number];

export interface RunOptions {
  /** Write the dump here (ELF). Without it the run stops after verifying through the /proc/vmcore view. */
  out?: string;
  /** Write the truth manifest here. */
  truth?: string;
  /** Number of pages sampled into the truth manifest. */
  truthPages: number;
  /** Sample of all-zero pages in the truth manifest. */
  truthZeroPages: number;
}

export interface Machine {
  readonly ramBytes: number;
  readonly cpus: number;
  readonly memory: PhysicalMemory;
}

/** EFI_MEMORY_DESCRIPTOR as the simulator keeps it (UEFI §7.2). */
export interface MemoryDescriptor {
  type: number;
  start: number;
  pages: number;
  attribute: bigint;
}

/** What the 1st kernel knows about the crash-dump machinery it set up. */
export interface KernelState {
  cmdline: string;
  osrelease: string;
  /** System RAM as the kernel sees it (e820 RAM), page aligned. */
  systemRam: PhysRange[];
  crashkernel: PhysRange[];
  kernelText: { paddr: number; vaddr: bigint; size: number };
  /** Physical address of each CPU's crash_notes buffer, and the buffer size. */
  crashNotes: number[];
  crashNotesBytes: number;
  vmcoreinfo: { paddr: number; size: number };
  /** Ranges the panic path itself writes (notes, VMCOREINFO): expected to differ from the truth. */
  panicWrites: PhysRange[];
  /** First page of the reservation: kept out of the capture kernel's memory for an in-memory handoff record. */
  handoffSlot: number;
  elfcorehdr?: { paddr: number; size: number; sha256: string };
  /** Where the capture kernel image and initrd were loaded inside the reservation. */
  captureImage?: PhysRange;
}

/** The information any transport carries from the 1st kernel to the stub. */
export interface HandoffInfo {
  version: number;
  /** 64-bit boot nonce, as 16 hex digits. */
  bootNonce: string;
  crashkernel: PhysRange[];
  elfcorehdr: { paddr: number; size: number; sha256: string };
  crashTimeUnix: number;
  cpus: number;
}

export interface StubState {
  crashedBoot: boolean;
  detector: string;
  reason: string;
  handoff?: HandoffInfo;
  /** Command line and RAM map the capture kernel is booted with. */
  captureCmdline?: string;
  captureRam?: PhysRange[];
}

/** Random-access view of /proc/vmcore as the capture kernel exports it. */
export interface VmcoreView {
  readonly size: number;
  /** Reads file bytes [offset, offset + dst.length). */
  read(offset: number, dst: Uint8Array): void;
  /** File offset of physical address `paddr` (through a PT_LOAD), or undefined when not dumped. */
  fileOffsetOf(paddr: number): number | undefined;
}

export interface RunState {
  memoryMap?: MemoryDescriptor[];
  bootCount: number;
  kernel?: KernelState;
  handoff?: { transport: string; location: string; bytes: number };
  truth?: TruthManifest;
  panic?: { cpu: number; unixTime: number; reason: string };
  reset?: { type: 'warm' | 'cold' | 'shutdown' | 'platform-specific'; data?: string };
  stub?: StubState;
  vmcore?: VmcoreView;
  dump?: { path?: string; bytes: number; format: string };
  verify?: { checked: number; matched: number; firstMismatch?: number };
}

/** Everything one run is: inputs, the simulated machine, the clock, the event stream and the state stages build up. */
export interface RunContext {
  readonly seed: number;
  readonly design: Design;
  readonly scenario: Scenario;
  readonly options: RunOptions;
  readonly machine: Machine;
  readonly clock: VirtualClock;
  readonly rng: Rng;
  readonly log: EventLog;
  readonly state: RunState;
  readonly metrics: Record<string, number | string | boolean>;
  readonly artifacts: Record<string, string>;
  /** Set when the run's fate is decided; later stages pass the context through untouched. */
  outcome?: { outcome: Outcome; reason: string };
}

/** The summary of a run, the same bytes for the same design, scenario and seed. */
export interface RunResult {
  format: 'efikdump-run/1';
  design: string;
  scenario: string;
  seed: number;
  ramBytes: number;
  cpus: number;
  outcome: Outcome;
  reason: string;
  metrics: Record<string, number | string | boolean>;
  artifacts: Record<string, string>;
  timeline: { tUs: number; stage: string; kind: string; message: string }[];
}
