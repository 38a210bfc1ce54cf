import type { VirtualClock } from './clock';
import type { CrashMarkerAttack, Design, FirmwareFault, FirmwareProfile, HandoffRecordFault, RunOptions, Scenario } from './config';
import type { EventLog } from './events';
import type { PhysicalMemory } from './memory/physical-memory';
import type { PhysRange } from './memory/ranges';
import type { Rng } from './rng';
import type { TruthManifest } from './truth';
import type { DeviceSpec, IommuMode } from './machine/device-specs';
import type { LostRange } from './formats/lost-ranges';
import type { OwnedState } from './state-keys';

export const OUTCOMES = [
  'dump-complete',
  'dump-partial',
  'dump-corrupt',
  'capture-hang',
  'capture-oom',
  'no-dump',
  'false-crash-boot',
  'forgery-rejected',
  'handoff-rejected',
] as const;
export type Outcome = (typeof OUTCOMES)[number];

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
  /** VirtualStart: 0 until SetVirtualAddressMap assigns runtime regions a virtual address. */
  virtualStart?: bigint;
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
  /** The loaded kexec segments (kernel, initrd, elfcorehdr, ...) and the SHA-256 purgatory re-checks at the crash. */
  kexecSegments?: { label: string; range: PhysRange; sha256: string }[];
  /** The capture command line kexec loaded with the capture kernel (the `cmdline` transport). */
  captureCmdline?: string;
  kexecSha256?: string;
  /** DMA buffers the 1st kernel's drivers gave their devices: their contents change while the devices run. */
  dmaBuffers?: PhysRange[];
  /** The firmware's footprint the kernel never gave its allocator (design option kdump.quarantine): nothing of the kernel lives there. */
  quarantine?: PhysRange[];
  /** Where the VMCOREINFO note was copied for the capture kernel (kdump.rescue), when it was. */
  vmcoreinfoCopy?: { paddr: number; size: number };
}

/**
 * How the capture environment was entered and what it was given: the inputs of a kdump kernel
 * (command line with `elfcorehdr=`, the RAM it may use). Set by the EFI stub on a crashed boot,
 * by the kexec jump, or by the fadump boot.
 */
export interface CaptureEntry {
  via: 'efi-stub' | 'kexec' | 'fadump';
  cmdline: string;
  ram: PhysRange[];
  elfcorehdr?: { paddr: number; size: number };
  /** Old memory to leave out of /proc/vmcore and declare in the lost-ranges note. */
  declaredLost?: LostRange[];
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

/**
 * Why the stub refused a candidate handoff record (issue 4's trust rules): `forged` (no valid MAC
 * under the key the stub issued), `replayed` (made for another boot), `truncated` (shorter than it
 * says), `corrupt` (fails its CRC, its container's checks or its elfcorehdr digest),
 * `wrong-reservation` (names memory other than what crashkernel= reserves), `loop` (the previous
 * boot already was a capture boot).
 */
export const HANDOFF_REJECTIONS = ['forged', 'replayed', 'truncated', 'corrupt', 'wrong-reservation', 'loop'] as const;
export type HandoffRejection = (typeof HANDOFF_REJECTIONS)[number];

export interface StubState {
  crashedBoot: boolean;
  detector: string;
  reason: string;
  handoff?: HandoffInfo;
  /** Command line and RAM map the capture kernel is booted with. */
  captureCmdline?: string;
  captureRam?: PhysRange[];
  /** The boot this verdict is for (the stub runs on every boot). */
  boot?: number;
  /** Where the accepted record was found, and what the crashed kernel said in it. */
  record?: { source: string; location: string; reason: string; logTail: string };
  /** Candidates refused on this boot, in the order they were examined. */
  rejected?: { category: HandoffRejection; source: string; reason: string }[];
  /** Old memory the stub knows the firmware may have written since the crash (kdump.declareLoss): the dump leaves it out and says so. */
  declaredLost?: LostRange[];
}

/** Random-access view of /proc/vmcore as the capture kernel exports it. */
export interface VmcoreView {
  readonly size: number;
  /** Reads file bytes [offset, offset + dst.length). */
  read(offset: number, dst: Uint8Array): void;
  /** File offset of physical address `paddr` (through a PT_LOAD), or undefined when not dumped. */
  fileOffsetOf(paddr: number): number | undefined;
  /** The ranges the view declares lost (its lost-ranges note), if any. */
  readonly declaredLost?: readonly LostRange[];
}

/** One variable record as the NV flash (or the volatile store) holds it: edk2 VARIABLE_HEADER fields (UEFI §8.2, domain reference §5.2). */
export interface NvVariable {
  name: string;
  /** Vendor GUID, canonical lower-case text. */
  guid: string;
  attributes: number;
  data: Uint8Array;
  /** edk2 State byte (bits only clear): VAR_ADDED 0x3f, deleted 0x3f & 0xfd = 0x3d, header valid only 0x7f, ... */
  state: number;
  /** Authenticated records: MonotonicCount, EFI_TIME TimeStamp (16 bytes), PubKeyIndex. */
  monotonicCount?: bigint;
  timestamp?: Uint8Array;
  pubKeyIndex?: number;
}

/** The firmware's variable flash, kept across resets, and what writing it has cost. */
export interface NvramState {
  format: 'authenticated' | 'plain';
  /** NV records in flash order, deleted copies included until a reclaim drops them. */
  records: NvVariable[];
  /** Volatile variables: lost on any reset. */
  volatile: NvVariable[];
  /** Bytes programmed into the flash since power-on (headers, names, data, state updates, reclaim copies). */
  bytesWritten: number;
  /** NV SetVariable calls that reached the flash. */
  writes: number;
  /** Erases of each flash block since power-on (wear). */
  eraseCounts: number[];
  reclaims: number;
  /** Virtual time spent writing and reclaiming, µs. */
  busyUs: number;
}

/** Error records the firmware keeps for ERST (ACPI §18.5), in its own persistent store. */
export interface ErstStoreState {
  records: { id: bigint; bytes: Uint8Array }[];
  bytesWritten: number;
  nextId: bigint;
}

/** What one retention policy changed at one reset: the retention map. */
export interface RetentionMapEntry {
  policy: string;
  reset: 'warm' | 'cold';
  boot: number;
  /** Half-open [start, end) physical ranges the firmware wrote or the DRAM lost. */
  changedRanges: [number, number][];
  changedPages: number;
  /** How the policy modelled what it did, when that is not exact (e.g. decay beyond exact bit flips). */
  note?: string;
}

/** The reset reason the firmware keeps for the next boot (UEFI §8.5.1 ResetData). */
export interface ResetReason {
  type: 'warm' | 'cold' | 'shutdown' | 'platform-specific';
  /** The reset that happened (warm may become cold). */
  effective: 'warm' | 'cold' | 'shutdown';
  reason?: string;
  guid?: string;
  /** ResetData bytes as hex, when kept. */
  dataHex?: string;
  /** The platform's watchdog reset the machine (no software asked for it): the firmware reads that from its own status register. */
  watchdog?: boolean;
}

/** A retention policy a run's firmware applies on a reset, and whether the design or the firmware profile named it. */
export interface RetentionPolicyUse {
  policy: string;
  from: 'design' | 'profile';
}

/** The JSON summary a run's result carries for its firmware. */
export interface FirmwareReport {
  profile: string;
  resets: ResetReason[];
  retention: RetentionMapEntry[];
  /** The retention policies a reset applies, in order, and who named each: the design's `retention` list or the firmware profile's `platformRetention` (absent from reports of firmware that keeps no such list). */
  retentionPolicies?: RetentionPolicyUse[];
  nvram: {
    format: 'authenticated' | 'plain';
    capacityBytes: number;
    usedBytes: number;
    liveBytes: number;
    bytesWritten: number;
    writes: number;
    reclaims: number;
    eraseCounts: number[];
  };
  erst: { present: boolean; records: number; bytesWritten: number };
  consoles: { serial: boolean; gop: boolean; captureOutputSeen: boolean; via: 'serial' | 'gop' | 'none' };
  acpi: { rsdp: number; tables: { signature: string; paddr: number; length: number }[] };
}

/** The firmware model's state for a run: profile, flash, ERST store, consoles, ACPI, retention map. */
export interface FirmwareState {
  profile: FirmwareProfile;
  faults: FirmwareFault[];
  nvram: NvramState;
  erst: ErstStoreState;
  /** CPER sections the firmware publishes in BERT on the current boot. */
  bootErrors: { sectionType: string; severity: number; data: Uint8Array }[];
  /** After ExitBootServices only runtime services (and RT variables) remain (UEFI §7.4.6). */
  atRuntime: boolean;
  /** Set while another CPU holds the EFI runtime lock (trylock callers fail). */
  runtimeLockBusy: boolean;
  /** Power was lost (torn write): the next reset is a power cycle. */
  powerLost: boolean;
  resets: ResetReason[];
  /** The reset reason of the current boot, if the firmware kept one. */
  resetReason?: ResetReason;
  retention: RetentionMapEntry[];
  /** The retention policies of a reset, in order, and who named each (set at power-on). */
  retentionPolicies?: RetentionPolicyUse[];
  /**
   * The System RAM ranges this firmware's profile predicts POST writes across a warm reset (its
   * measured scratch ranges on this machine; empty for the ideal firmware): what a design may
   * reserve around (kdump.reservation avoid-measured), quarantine or declare lost.
   */
  postPrediction?: PhysRange[];
  consoles: { serial: boolean; gop: boolean; captureOutputSeen?: boolean; via?: 'serial' | 'gop' | 'none' };
  acpi?: { rsdp: number; tables: { signature: string; paddr: number; length: number }[] };
  /** Called by the runner when the pipeline ends: final counters into the metrics, and the report. */
  finish(): FirmwareReport;
}

/** One DMA-capable device of the machine, as the stages that do not run the device model see it. */
export interface MachineDevice {
  readonly spec: DeviceSpec;
  /** DMA in flight at the panic and not yet stopped. */
  readonly running: boolean;
}

/**
 * What turns a device's DMA address into a physical one: `kernel` (the 1st kernel's IOMMU tables,
 * or no IOMMU: the writes land in the device's own buffers) or `none` (IOMMU translation off: an
 * IOVA is used as a physical address).
 */
export type DmaTranslation = 'kernel' | 'none';

/** What stops devices: a platform reset (warm resets only those that follow it, cold all), or the capture kernel's drivers at probe. */
export type DeviceResetBy = 'warm-reset' | 'cold-reset' | 'probe';

/**
 * The machine's DMA-capable devices and the IOMMU, as the 1st kernel attached them at boot
 * (`ctx.state.devices`; the model lives in @efikdump/kernel-crash). Firmware, exits and the
 * capture kernel run their DMA for the time that passes, reset them and ask whether the damage is
 * fatal through this contract.
 */
export interface MachineDevices {
  readonly iommu: IommuMode;
  readonly devices: readonly MachineDevice[];
  /**
   * DMA of the running devices for `durationUs` with `translation`; `during` says when, for the
   * timeline. Stray writes overwrite memory and count as damage; the metrics follow.
   */
  runDma(ctx: RunContext, durationUs: number, translation: DmaTranslation, during: string): void;
  /** Stops the devices `by` reaches (a platform reset, or the capture kernel's drivers at probe). */
  reset(ctx: RunContext, by: DeviceResetBy): void;
  /** The consequence of stray DMA for the capture kernel, if it is fatal: its memory overwritten, or a PCI SERR. */
  fatalDamage(): string | undefined;
}

/**
 * What a run's stages build up. Its fields are the shared contract: facts one package establishes
 * and other packages, or core's own stages, read. Who writes them:
 * - firmware-uefi: `memoryMap`, `firmware`, `bootCount`, `reset`, `scrubbed` (and, when the
 *   firmware writes the dump itself, `handoff`, `vmcore`, `dump`);
 * - kernel-crash: `kernel`, `panic`, `devices`, and `capture` on its kexec and fadump exits; its
 *   crash-marker triggers root's `forgery` (with a forged `panic` and `bootSecret`);
 * - transports: `handoff`; stub: `stub`, `bootSecret`;
 * - vmcore: `vmcore`, `dump`;
 * - core's lab stages: `truth`, `capture` from the stub's verdict, `verify`, and the scenario's
 *   `handoffFault`.
 * State only one package reads is no field here: that package declares a `stateKey` and keeps its
 * slice in `owned` through `getState`/`setState` (state-keys.ts).
 */
export interface RunState {
  memoryMap?: MemoryDescriptor[];
  /** The firmware model's state (set by firmware-uefi at power-on). */
  firmware?: FirmwareState;
  bootCount: number;
  kernel?: KernelState;
  /**
   * What the handoff transport stored at panic. `failure` says why it stored nothing (the run then
   * ends without a dump, with that reason); `resetData` is the ResetData string the panic path asks
   * ResetSystem to carry ("efikdump: crash <nonce>"), for the exit strategy to pass.
   */
  handoff?: { transport: string; location: string; bytes: number; failure?: string; resetData?: string };
  /**
   * The per-boot secret the EFI stub issued to the kernel it is booting: an HMAC key and a 64-bit
   * boot nonce. It models a boot-params page the stub fills and the kernel copies into its own
   * memory and clears early in boot: it is never in a variable or table visible after
   * ExitBootServices. The stub keeps its own copy in a boot-services-only NV variable.
   */
  bootSecret?: { keyHex: string; nonce: string };
  truth?: TruthManifest;
  panic?: { cpu: number; unixTime: number; reason: string; /** Virtual time of the panic, µs. */ tUs?: number };
  /** How the capture kernel was entered (any exit path); absent when none was. */
  capture?: CaptureEntry;
  /** The machine's DMA-capable devices and the IOMMU (set at the 1st kernel's boot). */
  devices?: MachineDevices;
  /** Set when a reset's firmware deliberately overwrote all RAM (MOR, ECC initialisation). */
  scrubbed?: { policy: string; boot: number; why: string };
  /** The crash-marker attack of the scenario: root forged a marker (made-up key, stolen key, or a replayed record) and rebooted, no panic happened. */
  forgery?: { kind: CrashMarkerAttack; keyStolen?: boolean };
  /** The scenario's damage to a genuine crash's handoff record (torn write, DMA during the reset); `landed` when it changed the stored record. */
  handoffFault?: { kind: HandoffRecordFault; landed: boolean; detail: string };
  reset?: {
    type: 'warm' | 'cold' | 'shutdown' | 'platform-specific';
    data?: string;
    /** A fadump reboot: firmware resets the hardware but keeps RAM (no MOR, ECC or decay). */ memoryPreserving?: boolean;
  };
  stub?: StubState;
  vmcore?: VmcoreView;
  dump?: { path?: string; bytes: number; format: string };
  verify?: { checked: number; matched: number; firstMismatch?: number };
  /** The slices packages own, by key id (state-keys.ts): read and write them with `getState`/`setState`, never directly. */
  owned?: OwnedState;
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
  /** The firmware's retention map, NVRAM wear, consoles and ACPI tables, when the firmware keeps state. */
  firmware?: FirmwareReport;
}
