import type { DependencyContainer, InjectionToken } from 'tsyringe';
import type { OperatorFunction } from 'rxjs';
import type { HandoffRejection, ResetReason, RunContext } from './context';
import type { PhysRange } from './memory/ranges';

/** A stage: an RxJS operator over the run's context. */
export type StageOperator = OperatorFunction<RunContext, RunContext>;

/** Platform firmware: builds the machine, boots it, and runs POST after a reset. */
export interface Firmware {
  /** The RAM ranges of a machine with `ramBytes` of memory (the platform's address map). */
  ramLayout(ramBytes: number): PhysRange[];
  /** Power-on: memory map, POST, start of the OS loader for the 1st kernel. */
  powerOn(): StageOperator;
  /** The reset requested by the exit path: POST, device reset, retention, then the OS loader (the stub). */
  resetAndPost(): StageOperator;
  /**
   * ResetSystem (UEFI §8.5.1), as the panicking kernel calls it. `data` is the ResetData: a reason
   * string (sent as a NUL-terminated UCS-2 string), optionally with the GUID a platform-specific
   * reset names.
   */
  resetSystem(ctx: RunContext, type: 'warm' | 'cold' | 'shutdown' | 'platform-specific', data?: string | ResetData): void;
  /** The platform's hardware watchdog expired and reset the machine (no OS call, no ResetData); firmware that cannot model it leaves this out. */
  watchdogReset?(ctx: RunContext): void;
}

/** ResetData of ResetSystem: a NUL-terminated UCS-2 reason, then for EfiResetPlatformSpecific an EFI_GUID (UEFI §8.5.1). */
export interface ResetData {
  reason: string;
  guid?: string;
}

/** EFI_STATUS values the firmware services return (UEFI 2.10 Appendix D). */
export const EFI_STATUS = {
  EFI_SUCCESS: 0n,
  EFI_INVALID_PARAMETER: 0x8000000000000002n,
  EFI_UNSUPPORTED: 0x8000000000000003n,
  EFI_BUFFER_TOO_SMALL: 0x8000000000000005n,
  EFI_NOT_READY: 0x8000000000000006n,
  EFI_DEVICE_ERROR: 0x8000000000000007n,
  EFI_WRITE_PROTECTED: 0x8000000000000008n,
  EFI_OUT_OF_RESOURCES: 0x8000000000000009n,
  EFI_NOT_FOUND: 0x800000000000000en,
  EFI_ACCESS_DENIED: 0x800000000000000fn,
  EFI_SECURITY_VIOLATION: 0x800000000000001an,
} as const;
export type EfiStatus = keyof typeof EFI_STATUS;

/** EFI variable attributes (UEFI §8.2; domain reference §5.1). */
export const EFI_VARIABLE = {
  NON_VOLATILE: 0x1,
  BOOTSERVICE_ACCESS: 0x2,
  RUNTIME_ACCESS: 0x4,
  HARDWARE_ERROR_RECORD: 0x8,
  AUTHENTICATED_WRITE_ACCESS: 0x10,
  TIME_BASED_AUTHENTICATED_WRITE_ACCESS: 0x20,
  APPEND_WRITE: 0x40,
  ENHANCED_AUTHENTICATED_ACCESS: 0x80,
} as const;

/** Outcome of a variable service call; `costUs` is the virtual time it took (already added to the run's clock). */
export interface VariableCallResult {
  status: EfiStatus;
  costUs: number;
}

/**
 * The UEFI variable services of the run's firmware (UEFI §8.2), as the OS and the stub call them.
 * Names are UCS-2 strings without the NUL; GUIDs canonical lower-case text. The store behind them
 * outlives resets.
 */
export interface UefiVariableServices {
  /** GetVariable. With `dataSize` smaller than the data: EFI_BUFFER_TOO_SMALL and the size needed. */
  getVariable(
    ctx: RunContext,
    name: string,
    guid: string,
    dataSize?: number,
  ): VariableCallResult & { attributes?: number; data?: Uint8Array; dataSize?: number };
  /** SetVariable (size 0 without APPEND_WRITE deletes). */
  setVariable(ctx: RunContext, name: string, guid: string, attributes: number, data: Uint8Array): VariableCallResult;
  /** GetNextVariableName: "" starts; `nameSize` counts bytes including the NUL. */
  getNextVariableName(
    ctx: RunContext,
    nameSize: number,
    name: string,
    guid: string,
  ): VariableCallResult & { name?: string; guid?: string; nameSize?: number };
  /** QueryVariableInfo. */
  queryVariableInfo(
    ctx: RunContext,
    attributes: number,
  ): VariableCallResult & { maxStorageBytes?: number; remainingBytes?: number; maxVariableBytes?: number };
  /**
   * The panic-time path Linux uses (efi-pstore; runtime-wrappers.c set_variable_nonblocking and
   * quirks.c): the runtime lock by trylock (EFI_NOT_READY when busy, never waits), and an NV write
   * that would leave less than EFI_MIN_RESERVE (5120) bytes free refused with EFI_OUT_OF_RESOURCES.
   */
  setVariableNonBlocking(ctx: RunContext, name: string, guid: string, attributes: number, data: Uint8Array): VariableCallResult;
  /** ExitBootServices: from now on boot-services-only variables are invisible. */
  exitBootServices(ctx: RunContext): void;
}

/** ACPI tables and the APEI error stores of the run's firmware (ACPI §5.2, §18; domain reference §6). */
export interface AcpiServices {
  /** The tables of the current boot, RSDP first, with their physical addresses and bytes. */
  tables(ctx: RunContext): { signature: string; paddr: number; bytes: Uint8Array }[];
  /** ERST write of one CPER record (the firmware's persistent store; slow). Status as ERST defines it (0 = success). */
  erstWrite(ctx: RunContext, record: Uint8Array): { status: number; id?: bigint; costUs: number };
  /** ERST read by record identifier; without one, the first record. */
  erstRead(ctx: RunContext, id?: bigint): { status: number; record?: Uint8Array; id?: bigint; nextId?: bigint };
  erstClear(ctx: RunContext, id: bigint): { status: number };
  erstRecordCount(ctx: RunContext): number;
  /** An error the firmware itself saw: published in BERT on the next boot. */
  recordBootError(ctx: RunContext, section: { sectionType: string; severity: number; data: Uint8Array }): void;
}

/**
 * What other packages reach of the firmware beyond the Firmware contract: UEFI variables, ACPI,
 * and the reset reason the firmware kept. Bound per run by the firmware package's `register`
 * (to the firmware the design names); inject with `@inject(FIRMWARE_SERVICES)`.
 */
export interface FirmwareServices {
  readonly variables: UefiVariableServices;
  readonly acpi: AcpiServices;
  /** The reset reason of the current boot (ResetData), if the firmware keeps one. */
  resetReason(ctx: RunContext): ResetReason | undefined;
}

/** What firmware does to memory across a reset; several may apply in order. */
export interface RetentionPolicy {
  readonly name: string;
  /** Changes memory as this policy does on `reset` and returns what it changed. */
  apply(ctx: RunContext, reset: 'warm' | 'cold'): RetentionReport;
}

export interface RetentionReport {
  policy: string;
  changedRanges: PhysRange[];
  changedPages: number;
  /** How the policy modelled what it did, when that is not exact. */
  note?: string;
}

/** The 1st (crashing) kernel. */
export interface FirstKernel {
  boot(): StageOperator;
  workload(): StageOperator;
  panic(): StageOperator;
}

/**
 * A handoff record as a transport or detector found it: the encoded record bytes, not yet trusted.
 * The stub decodes and validates them (CRC, MAC, nonce, flags, reservation, elfcorehdr).
 */
export interface HandoffCandidate {
  /** The transport or detector that found it (e.g. "efi-variable"). */
  source: string;
  /** Where: a physical address, variable names, an ERST record id, a BERT entry. */
  location: string;
  /** The encoded handoff record, unwrapped from the transport's container. */
  record: Uint8Array;
  /** Bytes the container's error correction repaired (reserved-memory's Reed–Solomon parity). */
  correctedBytes?: number;
}

/** What a transport's discovery found: a candidate, or why there is none (`damage` when something of ours was there but unreadable). */
export type HandoffDiscovery = { found: true; candidate: HandoffCandidate } | { found: false; reason: string; damage?: HandoffRejection };

/** A file a transport shows of what it stored (`efikdump run --artifacts DIR`); `path` is relative, at most one directory deep. */
export interface HandoffArtifact {
  path: string;
  bytes: Uint8Array;
}

/** How the 1st kernel passes the handoff information to the next boot. */
export interface HandoffTransport {
  readonly name: string;
  /** At kdump-service load time: reserve and arm. */
  prepare(): StageOperator;
  /** At panic: store the record, within the transport's panic-time budget. A failure is reported in the run, never thrown. */
  persist(): StageOperator;
  /** In the stub, before ExitBootServices: find the record and unwrap it from the transport's container, or say why there is none. */
  discover(ctx: RunContext): HandoffDiscovery;
  /** After the dump is saved: clear the record so the next boot is a normal one. */
  consume(ctx: RunContext): void;
  /** The files that show what the transport stored, in their real formats. */
  artifacts?(ctx: RunContext): HandoffArtifact[];
}

/**
 * The run's resolved slots, as an exit's route or a trigger builds its stages from them, and the
 * scenario's stages an exit places on its route.
 */
export interface RouteInput {
  readonly firmware: Firmware;
  readonly kernel: FirstKernel;
  readonly transport: HandoffTransport;
  readonly exit: ExitStrategy;
  readonly detector: CrashDetector;
  readonly stub: EfiStub;
  readonly capture: CaptureKernel;
  readonly writer: DumpWriter;
  /**
   * Stages that run once the 1st kernel has left and before anything resets the devices (a
   * scenario's DMA over the handoff record during the reset): a route places them right after
   * leaving the crashed kernel.
   */
  readonly inFlight: readonly StageOperator[];
}

/**
 * How the panicking kernel leaves: kexec, EFI warm or cold reset, fadump, firmware writing the
 * dump. `route` returns the stages from "leaving the crashed kernel" to "a vmcore view exists
 * (`ctx.state.vmcore`) or an outcome is set"; the runner puts the trigger and the persist before
 * them and the writer and the verification after. A new way out is one plug-in, never a runner change.
 */
export interface ExitStrategy {
  readonly name: string;
  /**
   * The boot after this exit is the EFI stub's decision (it reads the crash marker and picks the
   * capture kernel): true for an EFI reset, false when the next thing to run is chosen otherwise
   * (a kexec jump, firmware that dumps or boots normally). Triggers that attack the stub's
   * marker check read it.
   */
  readonly stubDecides: boolean;
  /**
   * The dump leaves out the crashkernel= reservation, as /proc/vmcore does (a capture kernel runs
   * there): the truth lists it as excluded, and a dump that holds it is corrupt. Absent means true;
   * false for an exit whose dump is made without a capture kernel (the firmware writes all RAM, the
   * unused reservation included).
   */
  readonly dumpExcludesReservation?: boolean;
  /** Leaving the crashed kernel itself (the jump, ResetSystem, the firmware's copy): the first stage of `route`, for triggers that replay a crash. */
  leave(): StageOperator;
  route(input: RouteInput): StageOperator[];
  /**
   * The stages after a reset the exit did not make (a watchdog's, the machine hung and no panic
   * path ran), from POST on. Absent: the next boot goes through the stub as a normal boot.
   */
  afterWatchdogReset?(input: RouteInput): StageOperator[];
}

/**
 * What starts the crash path in the running 1st kernel, chosen by the scenario: a panic, or root
 * writing a crash marker without one (the attacks of docs/threat-model.md). `stages` run before
 * the handoff's persist; `route`, when it returns stages, replaces the exit's route (root reboots
 * instead of the design's exit taking the machine out).
 */
export interface CrashTrigger {
  readonly name: string;
  /** False when no panic path runs, so the transport's persist never happens (a hang the watchdog resets); default true. */
  readonly persists?: boolean;
  stages(input: RouteInput): StageOperator[];
  route?(input: RouteInput): StageOperator[] | undefined;
}

/**
 * What a detector saw: `crashed` when it found at least one candidate record claiming a crash (the
 * stub validates them in order; the first valid one wins). `damaged` lists what was ours but
 * unreadable (counted as rejections); `notes` are findings for the timeline (e.g. a firmware that
 * drops ResetData).
 */
export type CrashDetection =
  | { crashed: true; evidence: string; candidates: HandoffCandidate[]; damaged?: DamagedHandoff[]; notes?: string[] }
  | { crashed: false; reason: string; damaged?: DamagedHandoff[]; notes?: string[] };

export interface DamagedHandoff {
  source: string;
  category: HandoffRejection;
  reason: string;
}

/** How the stub tells a crashed boot from a normal one: it finds candidates, the stub decides. */
export interface CrashDetector {
  readonly name: string;
  detect(ctx: RunContext): CrashDetection;
}

/** The EFI stub of the kernel image the firmware boots. */
export interface EfiStub {
  operator(): StageOperator;
}

/** The capture kernel: boot in the reservation, then /proc/vmcore. */
export interface CaptureKernel {
  /** Boots the capture kernel, and whatever the plug-in does when that boot fails (Linux: panic=10 and a reboot through the firmware). */
  boot(): StageOperator;
  vmcoreInit(): StageOperator;
}

/** Writes the dump from the /proc/vmcore view. */
export interface DumpWriter {
  readonly name: string;
  operator(): StageOperator;
  /**
   * When the run writes no file (no `--out`) and the dump is checked through /proc/vmcore only:
   * the virtual µs saving `bytes` of /proc/vmcore would take on the writer's dump target, charged
   * to crash → dump (`dumpWriteModelledUs`). Optional: without it nothing is charged.
   */
  unwrittenSaveUs?(bytes: number): number;
}

/**
 * Seals a finished dump file in an encrypted container for a writer that is asked to encrypt
 * (`encrypt: true`): a capture kernel has a public key but no secret. Offered by a plug-in package
 * (firmware-uefi registers the Offline-Crash-Dump Enc_Dmp! container); a writer asked to encrypt
 * on a container where none is registered fails before the run.
 */
export interface DumpSealer {
  /** What the sealed file is called in messages ("Enc_Dmp! container, AES-128-CTR, HMAC-SHA256 trailer"). */
  readonly description: string;
  /** The certificate used when the design names none: a demonstration key pair, never for real dumps. */
  readonly defaultCertificate: string;
  /** Reads and checks a certificate file; throws a ConfigError or IoError naming `where`. */
  readCertificate(path: string, where: { file?: string; field?: string }): Uint8Array;
  /** Writes `output` (atomically) as the sealed form of the file `input`; returns its size. */
  seal(
    input: string,
    output: string,
    format: 'elf' | 'kdump',
    certificate: Uint8Array,
    random: (n: number) => Uint8Array,
  ): { bytes: number };
}

export const FIRMWARE: InjectionToken<Firmware> = Symbol('efikdump:firmware');
export const FIRMWARE_SERVICES: InjectionToken<FirmwareServices> = Symbol('efikdump:firmware-services');
export const RETENTION: InjectionToken<RetentionPolicy> = Symbol('efikdump:retention');
export const KERNEL: InjectionToken<FirstKernel> = Symbol('efikdump:kernel');
export const TRANSPORT: InjectionToken<HandoffTransport> = Symbol('efikdump:transport');
export const EXIT: InjectionToken<ExitStrategy> = Symbol('efikdump:exit');
export const DETECTOR: InjectionToken<CrashDetector> = Symbol('efikdump:detector');
export const STUB: InjectionToken<EfiStub> = Symbol('efikdump:stub');
export const CAPTURE: InjectionToken<CaptureKernel> = Symbol('efikdump:capture');
export const WRITER: InjectionToken<DumpWriter> = Symbol('efikdump:writer');
export const TRIGGER: InjectionToken<CrashTrigger> = Symbol('efikdump:trigger');
/** The dump sealer, when a plug-in package offers one (firmware-uefi does). */
export const DUMP_SEALER: InjectionToken<DumpSealer> = Symbol('efikdump:dump-sealer');
/** The run's context, registered as a value in each run's child container. */
export const RUN_CONTEXT: InjectionToken<RunContext> = Symbol('efikdump:run-context');
/** The run's child container itself, for plug-ins that resolve other plug-ins by class (the `any-of` detector). */
export const RUN_CONTAINER: InjectionToken<DependencyContainer> = Symbol('efikdump:run-container');

/** A slot of a design: a token filled by the implementation the design names. */
export interface Slot<T = unknown> {
  readonly key: string;
  readonly token: InjectionToken<T>;
  /** Several implementations may fill it, applied in the design's order. */
  readonly multiple: boolean;
  readonly description: string;
}

export const SLOTS = {
  firmware: { key: 'firmware', token: FIRMWARE, multiple: false, description: 'platform firmware model' },
  retention: { key: 'retention', token: RETENTION, multiple: true, description: 'what survives in memory across a reset' },
  kernel: { key: 'kernel', token: KERNEL, multiple: false, description: 'the 1st (crashing) kernel' },
  transport: { key: 'transport', token: TRANSPORT, multiple: false, description: 'how handoff information reaches the next boot' },
  exit: { key: 'exit', token: EXIT, multiple: false, description: 'how the panicking kernel leaves' },
  detector: { key: 'detector', token: DETECTOR, multiple: false, description: 'how the stub recognises a crashed boot' },
  stub: { key: 'stub', token: STUB, multiple: false, description: 'the EFI stub that boots the capture kernel' },
  capture: { key: 'capture', token: CAPTURE, multiple: false, description: 'the capture kernel and /proc/vmcore' },
  writer: { key: 'writer', token: WRITER, multiple: false, description: 'the dump writer' },
} as const satisfies Record<string, Slot>;

export type SlotKey = keyof typeof SLOTS;
export const SLOT_KEYS = Object.keys(SLOTS) as SlotKey[];

/** Slots the scenario fills, not the design: what starts the crash path (`triggerNameOf` in config). */
export const SCENARIO_SLOTS = {
  trigger: { key: 'trigger', token: TRIGGER, multiple: false, description: 'what starts the crash path: a panic or a forged crash marker' },
} as const satisfies Record<string, Slot>;

export type ScenarioSlotKey = keyof typeof SCENARIO_SLOTS;
/** Any slot a plug-in can fill. */
export type PluginSlotKey = SlotKey | ScenarioSlotKey;
export const ALL_SLOTS: Record<PluginSlotKey, Slot> = { ...SLOTS, ...SCENARIO_SLOTS };
