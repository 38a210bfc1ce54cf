import type { InjectionToken } from 'tsyringe';
import type { OperatorFunction } from 'rxjs';
import type { HandoffInfo, RunContext } from './context';
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
  /** ResetSystem (UEFI §8.5.1), as the panicking kernel calls it. */
  resetSystem(ctx: RunContext, type: 'warm' | 'cold' | 'shutdown' | 'platform-specific', data?: string): void;
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
}

/** The 1st (crashing) kernel. */
export interface FirstKernel {
  boot(): StageOperator;
  workload(): StageOperator;
  panic(): StageOperator;
}

/** How the 1st kernel passes the handoff information to the next boot. */
export interface HandoffTransport {
  readonly name: string;
  /** At kdump-service load time: reserve and arm. */
  prepare(): StageOperator;
  /** At panic: store the record, within the transport's panic-time budget. */
  persist(): StageOperator;
  /** In the stub, before ExitBootServices: find and decode the record, or say why there is none. */
  discover(ctx: RunContext): { found: true; info: HandoffInfo; location: string } | { found: false; reason: string };
  /** After the dump is saved: clear the record so the next boot is a normal one. */
  consume(ctx: RunContext): void;
}

/** How the panicking kernel leaves: kexec, EFI warm or cold reset, fadump. */
export interface ExitStrategy {
  readonly name: string;
  operator(): StageOperator;
}

/** How the stub tells a crashed boot from a normal one. */
export interface CrashDetector {
  readonly name: string;
  detect(ctx: RunContext): { crashed: true; info: HandoffInfo; evidence: string } | { crashed: false; reason: string };
}

/** The EFI stub of the kernel image the firmware boots. */
export interface EfiStub {
  operator(): StageOperator;
}

/** The capture kernel: boot in the reservation, then /proc/vmcore. */
export interface CaptureKernel {
  boot(): StageOperator;
  vmcoreInit(): StageOperator;
}

/** Writes the dump from the /proc/vmcore view. */
export interface DumpWriter {
  readonly name: string;
  operator(): StageOperator;
}

export const FIRMWARE: InjectionToken<Firmware> = Symbol('efikdump:firmware');
export const RETENTION: InjectionToken<RetentionPolicy> = Symbol('efikdump:retention');
export const KERNEL: InjectionToken<FirstKernel> = Symbol('efikdump:kernel');
export const TRANSPORT: InjectionToken<HandoffTransport> = Symbol('efikdump:transport');
export const EXIT: InjectionToken<ExitStrategy> = Symbol('efikdump:exit');
export const DETECTOR: InjectionToken<CrashDetector> = Symbol('efikdump:detector');
export const STUB: InjectionToken<EfiStub> = Symbol('efikdump:stub');
export const CAPTURE: InjectionToken<CaptureKernel> = Symbol('efikdump:capture');
export const WRITER: InjectionToken<DumpWriter> = Symbol('efikdump:writer');
/** The run's context, registered as a value in each run's child container. */
export const RUN_CONTEXT: InjectionToken<RunContext> = Symbol('efikdump:run-context');

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
