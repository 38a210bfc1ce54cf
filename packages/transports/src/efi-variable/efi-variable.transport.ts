import { inject, injectable } from 'tsyringe';
import {
  EFI_VARIABLE as A,
  FIRMWARE_SERVICES,
  stage,
  buildHandoffRecord,
  EFIKDUMP_VENDOR_GUID,
  handoffVariableName,
  reportPersisted,
  reportPersistFailure,
  startPersist,
  warnUnsigned,
  FLAG_ARMED,
  FLAG_CRASHED,
  RECORD_HEADER_BYTES,
  RECORD_MAX_BYTES,
  type EfiStatus,
  type FirmwareServices,
  type HandoffArtifact,
  type HandoffDiscovery,
  type HandoffTransport,
  type RunContext,
  type StageOperator,
} from '@efikdump/core';

/** NV|BS|RT: survives any reset, readable by the stub, writable by the running kernel (as efi-pstore's records, domain reference §7). */
export const HANDOFF_VARIABLE_ATTRIBUTES = A.NON_VOLATILE | A.BOOTSERVICE_ACCESS | A.RUNTIME_ACCESS;
/** Most variables one record may take. */
export const MAX_HANDOFF_VARIABLES = 256;
/** Linux's floor of free NV space a panic-time write may not cross (arch/x86/platform/efi/quirks.c EFI_MIN_RESERVE, domain reference §5.3). */
const EFI_MIN_RESERVE = 5120;

/** UCS-2 name with its NUL, as NameSize counts it. */
const nameBytes = (name: string) => 2 * (name.length + 1);

/** What each status means on the panic path (UEFI §8.2.3; Linux runtime-wrappers.c, quirks.c). */
function explain(status: EfiStatus): string {
  switch (status) {
    case 'EFI_OUT_OF_RESOURCES':
      return `the variable store is full (Linux keeps ${EFI_MIN_RESERVE} bytes free, EFI_MIN_RESERVE, and never reclaims at panic)`;
    case 'EFI_NOT_READY':
      return 'another CPU holds the EFI runtime lock (the panic path only tries it)';
    case 'EFI_DEVICE_ERROR':
      return 'the flash write failed (power lost: torn write)';
    case 'EFI_INVALID_PARAMETER':
      return 'the firmware refused the variable (size or attributes)';
    case 'EFI_WRITE_PROTECTED':
      return 'the variable store is write-protected';
    default:
      return 'the firmware refused the write';
  }
}

/**
 * The handoff record split across NV|BS|RT variables under efikdump's vendor GUID
 * (`EfikdumpHandoff0000`, `…0001`, …), each no larger than the profile's maximum variable size
 * (QueryVariableInfo's MaximumVariableSize less the name), written at panic through Linux's
 * non-blocking path (trylock, the 5120-byte floor, no reclaim). Survives any reset, even a cold
 * one; costs flash writes and wear at panic time; fails clearly when the store is full.
 */
@injectable()
export class EfiVariableTransport implements HandoffTransport {
  readonly name = 'efi-variable';
  /** Data bytes per variable, decided when the kdump service loads (QueryVariableInfo then). */
  private chunkBytes?: number;

  constructor(@inject(FIRMWARE_SERVICES) private readonly fw: FirmwareServices) {}

  prepare(): StageOperator {
    return stage('handoff-prepare', (ctx) => {
      warnUnsigned(ctx, this.name, 'handoff-prepare');
      const deleted = this.deleteAll(ctx);
      if (deleted) ctx.log.emit('handoff-prepare', 'info', `efi-variable: removed ${deleted} handoff variables of an earlier crash`);
      const q = this.fw.variables.queryVariableInfo(ctx, HANDOFF_VARIABLE_ATTRIBUTES);
      if (q.status !== 'EFI_SUCCESS') {
        ctx.log.emit(
          'handoff-prepare',
          'warn',
          `efi-variable: QueryVariableInfo returned ${q.status}; the panic-time write will likely fail`,
        );
        return;
      }
      this.chunkBytes = q.maxVariableBytes! - nameBytes(handoffVariableName(0));
      const expected = buildHandoffRecord(ctx, FLAG_ARMED | FLAG_CRASHED).bytes.length + 1024;
      const variables = Math.ceil(expected / Math.max(1, this.chunkBytes));
      const room = q.remainingBytes! - expected - variables * (64 + nameBytes(handoffVariableName(0)));
      ctx.metrics.handoffVariableBytes = this.chunkBytes;
      ctx.log.emit(
        'handoff-prepare',
        room < EFI_MIN_RESERVE ? 'warn' : 'info',
        `efi-variable: up to ${this.chunkBytes} data bytes per variable; ${q.remainingBytes} bytes of the store free` +
          (room < EFI_MIN_RESERVE ? `, too few to store a record at panic and keep Linux's ${EFI_MIN_RESERVE}-byte floor` : ''),
      );
    });
  }

  persist(): StageOperator {
    return stage('handoff-persist', (ctx) => {
      const cost = startPersist(ctx);
      const { bytes } = buildHandoffRecord(ctx, FLAG_ARMED | FLAG_CRASHED);
      let chunk = this.chunkBytes;
      if (chunk === undefined) {
        // No prepare (the kdump service never ran): ask now, on the panic path's terms.
        const q = this.fw.variables.queryVariableInfo(ctx, HANDOFF_VARIABLE_ATTRIBUTES);
        if (q.status !== 'EFI_SUCCESS') return reportPersistFailure(ctx, this.name, cost, `QueryVariableInfo returned ${q.status}`);
        chunk = q.maxVariableBytes! - nameBytes(handoffVariableName(0));
      }
      if (chunk < 1 || Math.ceil(bytes.length / chunk) > MAX_HANDOFF_VARIABLES) {
        return reportPersistFailure(
          ctx,
          this.name,
          cost,
          `a ${bytes.length}-byte record does not fit ${MAX_HANDOFF_VARIABLES} variables of ${chunk} bytes`,
        );
      }
      const count = Math.ceil(bytes.length / chunk);
      for (let i = 0; i < count; i++) {
        const name = handoffVariableName(i);
        const r = this.fw.variables.setVariableNonBlocking(
          ctx,
          name,
          EFIKDUMP_VENDOR_GUID,
          HANDOFF_VARIABLE_ATTRIBUTES,
          bytes.subarray(i * chunk, (i + 1) * chunk),
        );
        if (r.status !== 'EFI_SUCCESS') {
          return reportPersistFailure(
            ctx,
            this.name,
            cost,
            `SetVariable(${name}) returned ${r.status}: ${explain(r.status)}; ${i} of ${count} variables written`,
          );
        }
      }
      ctx.metrics.handoffVariables = count;
      reportPersisted(
        ctx,
        this.name,
        cost,
        `${this.locationOf(count)}`,
        bytes.length,
        bytes.length + count * nameBytes(handoffVariableName(0)),
      );
    });
  }

  discover(ctx: RunContext): HandoffDiscovery {
    const parts: Uint8Array[] = [];
    let total = 0;
    let want = RECORD_MAX_BYTES;
    for (let i = 0; i < MAX_HANDOFF_VARIABLES && total < want; i++) {
      const name = handoffVariableName(i);
      const r = this.fw.variables.getVariable(ctx, name, EFIKDUMP_VENDOR_GUID);
      if (r.status === 'EFI_NOT_FOUND') break;
      if (r.status !== 'EFI_SUCCESS' || !r.data)
        return { found: false, reason: `GetVariable(${name}) returned ${r.status}`, damage: 'corrupt' };
      if (r.attributes !== HANDOFF_VARIABLE_ATTRIBUTES) {
        return { found: false, reason: `${name} has attributes 0x${r.attributes?.toString(16)}, not NV|BS|RT (0x7)`, damage: 'corrupt' };
      }
      parts.push(r.data);
      total += r.data.length;
      // The record says how long it is; stop once that much is here (more variables are not ours to read).
      if (i === 0 && r.data.length >= 16)
        want = Math.min(
          RECORD_MAX_BYTES,
          Math.max(RECORD_HEADER_BYTES, new DataView(r.data.buffer, r.data.byteOffset, r.data.byteLength).getUint32(12, true)),
        );
    }
    if (parts.length === 0) return { found: false, reason: `no ${handoffVariableName(0)} variable under ${EFIKDUMP_VENDOR_GUID}` };
    const record = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      record.set(p, at);
      at += p.length;
    }
    return { found: true, candidate: { source: this.name, location: this.locationOf(parts.length), record } };
  }

  /** Deletes the handoff variables (the capture environment, at runtime: NV|BS|RT ones may be deleted then). */
  consume(ctx: RunContext): void {
    this.deleteAll(ctx);
  }

  /** The handoff variables in efivarfs layout (4-byte attributes, then the data), and the record they hold. */
  artifacts(ctx: RunContext): HandoffArtifact[] {
    const out: HandoffArtifact[] = [];
    const parts: Uint8Array[] = [];
    for (let i = 0; i < MAX_HANDOFF_VARIABLES; i++) {
      const name = handoffVariableName(i);
      const r = this.fw.variables.getVariable(ctx, name, EFIKDUMP_VENDOR_GUID);
      if (r.status !== 'EFI_SUCCESS' || !r.data) break;
      const file = new Uint8Array(4 + r.data.length);
      new DataView(file.buffer).setUint32(0, r.attributes! >>> 0, true);
      file.set(r.data, 4);
      out.push({ path: `efivarfs/${name}-${EFIKDUMP_VENDOR_GUID}`, bytes: file });
      parts.push(r.data);
    }
    if (parts.length) out.push({ path: 'handoff-record.bin', bytes: new Uint8Array(Buffer.concat(parts)) });
    return out;
  }

  private locationOf(count: number): string {
    return count === 1
      ? `${handoffVariableName(0)}-${EFIKDUMP_VENDOR_GUID}`
      : `${handoffVariableName(0)}..${handoffVariableName(count - 1).slice(-4)}-${EFIKDUMP_VENDOR_GUID}`;
  }

  private deleteAll(ctx: RunContext): number {
    let n = 0;
    for (let i = 0; i < MAX_HANDOFF_VARIABLES; i++) {
      const name = handoffVariableName(i);
      if (this.fw.variables.getVariable(ctx, name, EFIKDUMP_VENDOR_GUID).status !== 'EFI_SUCCESS') break;
      if (
        this.fw.variables.setVariable(ctx, name, EFIKDUMP_VENDOR_GUID, HANDOFF_VARIABLE_ATTRIBUTES, new Uint8Array(0)).status ===
        'EFI_SUCCESS'
      )
        n++;
    }
    return n;
  }
}
