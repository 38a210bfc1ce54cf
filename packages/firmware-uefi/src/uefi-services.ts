import {
  EFI_VARIABLE as A,
  SimulationError,
  type AcpiServices,
  type FirmwareServices,
  type FirmwareState,
  type ResetReason,
  type RunContext,
  type UefiVariableServices,
  type VariableCallResult,
} from '@efikdump/core';
import { erstClear, erstRead, erstWrite } from './acpi/erst-store';
import type { AuthVerifier } from './variables/variable-auth';
import { VariableStore } from './variables/variable-store';
import { EFI_MIN_RESERVE, nameSize } from './variables/well-known';

export function firmwareState(ctx: RunContext): FirmwareState {
  const fw = ctx.state.firmware;
  if (!fw) throw new SimulationError('the UEFI firmware has not powered on (no firmware state in the run)');
  return fw;
}

/** Whether another CPU holds the EFI runtime lock now: the fault names the panic, until the reset. */
export function runtimeLockBusy(ctx: RunContext): boolean {
  const fw = firmwareState(ctx);
  return (
    fw.runtimeLockBusy ||
    (fw.faults.includes('runtime-lock-busy-at-panic') && ctx.state.panic !== undefined && ctx.state.reset === undefined)
  );
}

const charge = (ctx: RunContext, costUs: number) => {
  if (costUs > 0) ctx.clock.advance(costUs);
};

/**
 * UEFI variable services over the run's store (UEFI §8.2): the rules live in VariableStore;
 * here the call is timed on the run's clock and runs with the boot's runtime state, the runtime
 * lock and the injected faults.
 */
export class UefiVariableServicesImpl implements UefiVariableServices {
  constructor(private readonly verifier?: AuthVerifier) {}

  private store(ctx: RunContext): { fw: FirmwareState; store: VariableStore } {
    const fw = firmwareState(ctx);
    return { fw, store: new VariableStore(fw.nvram, fw.profile) };
  }

  getVariable(ctx: RunContext, name: string, guid: string, dataSize?: number) {
    const { fw, store } = this.store(ctx);
    return { ...store.get(name, guid, fw.atRuntime, dataSize), costUs: 0 };
  }

  setVariable(ctx: RunContext, name: string, guid: string, attributes: number, data: Uint8Array): VariableCallResult {
    const { fw, store } = this.store(ctx);
    const r = store.set(name, guid, attributes, data, { atRuntime: fw.atRuntime, verifier: this.verifier });
    charge(ctx, r.costUs);
    if (r.reclaimed)
      ctx.log.emit('firmware', 'info', `variable store reclaimed during SetVariable(${name}) (${Math.round(r.costUs / 1000)} ms)`);
    return { status: r.status, costUs: r.costUs };
  }

  getNextVariableName(ctx: RunContext, nameSizeBytes: number, name: string, guid: string) {
    const { fw, store } = this.store(ctx);
    return { ...store.next(nameSizeBytes, name, guid, fw.atRuntime), costUs: 0 };
  }

  queryVariableInfo(ctx: RunContext, attributes: number) {
    const { fw, store } = this.store(ctx);
    return { ...store.query(attributes, fw.atRuntime), costUs: 0 };
  }

  /**
   * Linux's non-blocking path (drivers/firmware/efi/runtime-wrappers.c set_variable_nonblocking,
   * arch/x86/platform/efi/quirks.c efi_query_variable_store with nonblocking): trylock, the
   * EFI_MIN_RESERVE floor without the DUMMY-variable garbage collection, then SetVariable.
   */
  setVariableNonBlocking(ctx: RunContext, name: string, guid: string, attributes: number, data: Uint8Array): VariableCallResult {
    const { fw, store } = this.store(ctx);
    if (runtimeLockBusy(ctx)) return { status: 'EFI_NOT_READY', costUs: 0 };
    if (attributes & A.NON_VOLATILE) {
      const q = store.query(attributes & ~A.APPEND_WRITE, fw.atRuntime);
      if (q.status !== 'EFI_SUCCESS') return { status: q.status, costUs: 0 };
      if (q.remainingBytes! - (data.length + nameSize(name)) < EFI_MIN_RESERVE) return { status: 'EFI_OUT_OF_RESOURCES', costUs: 0 };
    }
    const tear =
      fw.faults.includes('power-loss-during-panic-nv-write') &&
      ctx.state.panic !== undefined &&
      !fw.powerLost &&
      Boolean(attributes & A.NON_VOLATILE);
    const r = store.set(name, guid, attributes, data, { atRuntime: fw.atRuntime, verifier: this.verifier, tornAt: tear ? 0.5 : undefined });
    charge(ctx, r.costUs);
    if (r.torn) {
      fw.powerLost = true;
      ctx.log.emit(
        'firmware',
        'warn',
        `power lost while SetVariable(${name}) was writing the flash (torn write, profile: ${fw.profile.tornWrite})`,
      );
    }
    return { status: r.status, costUs: r.costUs };
  }

  exitBootServices(ctx: RunContext): void {
    firmwareState(ctx).atRuntime = true;
  }
}

export class AcpiServicesImpl implements AcpiServices {
  tables(ctx: RunContext) {
    const fw = firmwareState(ctx);
    return (fw.acpi?.tables ?? []).map((t) => {
      const bytes = new Uint8Array(t.length);
      ctx.machine.memory.read(t.paddr, bytes);
      return { signature: t.signature, paddr: t.paddr, bytes };
    });
  }

  erstWrite(ctx: RunContext, record: Uint8Array) {
    const fw = firmwareState(ctx);
    const r = erstWrite(fw.erst, fw.profile, record);
    charge(ctx, r.costUs);
    return r;
  }

  erstRead(ctx: RunContext, id?: bigint) {
    const fw = firmwareState(ctx);
    return erstRead(fw.erst, fw.profile, id);
  }

  erstClear(ctx: RunContext, id: bigint) {
    const fw = firmwareState(ctx);
    return erstClear(fw.erst, fw.profile, id);
  }

  erstRecordCount(ctx: RunContext): number {
    return firmwareState(ctx).erst.records.length;
  }

  recordBootError(ctx: RunContext, section: { sectionType: string; severity: number; data: Uint8Array }): void {
    firmwareState(ctx).bootErrors.push({ ...section, data: section.data.slice() });
  }
}

/** What the uefi firmware offers other packages through FIRMWARE_SERVICES. */
export class UefiFirmwareServices implements FirmwareServices {
  readonly variables: UefiVariableServicesImpl;
  readonly acpi = new AcpiServicesImpl();

  constructor(verifier?: AuthVerifier) {
    this.variables = new UefiVariableServicesImpl(verifier);
  }

  resetReason(ctx: RunContext): ResetReason | undefined {
    return firmwareState(ctx).resetReason;
  }
}
