import { inject, injectable } from 'tsyringe';
import {
  decodeBertBody,
  decodeGenericErrorStatusBlock,
  decodeSdt,
  ERST_NO_RECORD_ID,
  ErstStatus,
  FIRMWARE_SERVICES,
  FormatError,
  hex,
  stage,
  buildHandoffRecord,
  EFIKDUMP_CPER_SECTION_GUID,
  reportPersisted,
  reportPersistFailure,
  startPersist,
  warnUnsigned,
  FLAG_ARMED,
  FLAG_CRASHED,
  type FirmwareServices,
  type HandoffArtifact,
  type HandoffDiscovery,
  type HandoffTransport,
  type RunContext,
  type StageOperator,
} from '@efikdump/core';
import { encodeHandoffCper, handoffSectionOf } from './handoff-cper.codec';

const STATUS_NAMES = Object.fromEntries(Object.entries(ErstStatus).map(([k, v]) => [v, k])) as Record<number, string>;
const statusName = (s: number) => `${s} (${STATUS_NAMES[s] ?? 'unknown'})`;

/**
 * The handoff record as a CPER record written through the firmware's ERST (ACPI §18.5) at panic,
 * as Linux's pstore-erst writes its panic records. On the next boot the stub finds it in BERT's
 * boot error region (ACPI §18.3.1: a Generic Error Status Block and Generic Error Data Entries,
 * the section body in each) when the firmware republishes ERST records there, or else reads the
 * ERST store. Only firmware with an ERST table supports it; the write is firmware-mediated and
 * slow (the profile's erstWriteMs), and consumes no EFI variable space.
 */
@injectable()
export class AcpiErstTransport implements HandoffTransport {
  readonly name = 'acpi-erst';

  constructor(@inject(FIRMWARE_SERVICES) private readonly fw: FirmwareServices) {}

  prepare(): StageOperator {
    return stage('handoff-prepare', (ctx) => {
      warnUnsigned(ctx, this.name, 'handoff-prepare');
      if (!this.hasErst(ctx)) {
        ctx.log.emit('handoff-prepare', 'warn', `acpi-erst: ${this.noErst(ctx)}; the record cannot be stored at panic`);
        return;
      }
      const stale = this.ourRecords(ctx);
      for (const r of stale) this.fw.acpi.erstClear(ctx, r.id);
      ctx.log.emit(
        'handoff-prepare',
        'info',
        `acpi-erst: ERST present (${this.fw.acpi.erstRecordCount(ctx)} records in the store${stale.length ? `, ${stale.length} stale handoff records cleared` : ''})`,
      );
    });
  }

  persist(): StageOperator {
    return stage('handoff-persist', (ctx) => {
      const cost = startPersist(ctx);
      if (!this.hasErst(ctx)) return reportPersistFailure(ctx, this.name, cost, this.noErst(ctx));
      const { bytes, record } = buildHandoffRecord(ctx, FLAG_ARMED | FLAG_CRASHED);
      const cper = encodeHandoffCper(bytes, record.info.bootNonce, record.info.crashTimeUnix);
      const r = this.fw.acpi.erstWrite(ctx, cper);
      if (r.status !== ErstStatus.Success)
        return reportPersistFailure(
          ctx,
          this.name,
          cost,
          `ERST write of a ${cper.length}-byte CPER record returned status ${statusName(r.status)}`,
        );
      ctx.metrics.handoffErstRecordId = String(r.id);
      reportPersisted(ctx, this.name, cost, `ERST record ${r.id}`, bytes.length, cper.length);
    });
  }

  discover(ctx: RunContext): HandoffDiscovery {
    const bert = this.discoverInBert(ctx);
    if (bert.found || bert.damage) return bert;
    if (!this.hasErst(ctx)) return { found: false, reason: `${bert.reason}; ${this.noErst(ctx)}` };
    const erst = this.discoverInErst(ctx);
    return erst.found || erst.damage ? erst : { found: false, reason: `${bert.reason}; ${erst.reason}` };
  }

  /** The newest handoff section in BERT's boot error region, where the firmware republishes ERST records (ACPI §18.3.1). */
  discoverInBert(ctx: RunContext): HandoffDiscovery {
    const table = this.fw.acpi.tables(ctx).find((t) => t.signature === 'BERT');
    if (!table) return { found: false, reason: 'the firmware publishes no BERT' };
    try {
      const body = decodeBertBody(decodeSdt(table.bytes, { file: 'BERT', base: table.paddr }, 'BERT').body, {
        file: 'BERT',
        base: table.paddr,
      });
      const address = Number(body.regionAddress);
      if (!Number.isSafeInteger(address) || !ctx.machine.memory.isRam(address, Math.max(1, body.regionLength))) {
        return { found: false, reason: `the BERT boot error region ${hex(body.regionAddress)}+${body.regionLength} is not in memory` };
      }
      const region = new Uint8Array(body.regionLength);
      ctx.machine.memory.read(address, region);
      const block = decodeGenericErrorStatusBlock(region, { file: 'BERT boot error region', base: address });
      const ours = block.entries.map((e, i) => ({ e, i })).filter(({ e }) => e.sectionType === EFIKDUMP_CPER_SECTION_GUID);
      if (ours.length === 0)
        return {
          found: false,
          reason: `BERT's boot error region holds ${block.entries.length} entries, none of section type ${EFIKDUMP_CPER_SECTION_GUID}`,
        };
      const { e, i } = ours[ours.length - 1];
      return {
        found: true,
        candidate: { source: this.name, location: `BERT boot error region ${hex(address)} entry ${i}`, record: e.data },
      };
    } catch (err) {
      if (!(err instanceof FormatError)) throw err;
      return { found: false, reason: `BERT is unreadable: ${err.describe()}` };
    }
  }

  /** The newest handoff record in the ERST store, read through ERST (for firmware that does not republish in BERT). */
  discoverInErst(ctx: RunContext): HandoffDiscovery {
    const ours = this.ourRecords(ctx);
    if (ours.length) {
      const last = ours[ours.length - 1];
      return { found: true, candidate: { source: this.name, location: `ERST record ${last.id}`, record: last.body } };
    }
    return { found: false, reason: `the ERST store holds no record with a section of type ${EFIKDUMP_CPER_SECTION_GUID}` };
  }

  /** Clears the handoff records from the ERST store: the next boot's BERT no longer shows them. */
  consume(ctx: RunContext): void {
    for (const r of this.ourRecords(ctx)) this.fw.acpi.erstClear(ctx, r.id);
  }

  /** The CPER record as ERST holds it, its section body (the record), and this boot's BERT, ERST and boot error region. */
  artifacts(ctx: RunContext): HandoffArtifact[] {
    const out: HandoffArtifact[] = [];
    const ours = this.ourRecords(ctx);
    const last = ours[ours.length - 1];
    if (last) {
      out.push({ path: 'cper-record.bin', bytes: last.cper });
      out.push({ path: 'handoff-record.bin', bytes: last.body });
    }
    for (const t of this.fw.acpi.tables(ctx)) {
      if (t.signature === 'BERT' || t.signature === 'ERST') out.push({ path: `acpi/${t.signature.toLowerCase()}.dat`, bytes: t.bytes });
      if (t.signature === 'BERT') {
        try {
          const body = decodeBertBody(decodeSdt(t.bytes).body);
          const region = new Uint8Array(body.regionLength);
          ctx.machine.memory.read(Number(body.regionAddress), region);
          out.push({ path: 'boot-error-region.bin', bytes: region });
        } catch (e) {
          if (!(e instanceof FormatError)) throw e;
        }
      }
    }
    return out;
  }

  private hasErst(ctx: RunContext): boolean {
    return this.fw.acpi.tables(ctx).some((t) => t.signature === 'ERST');
  }

  private noErst(ctx: RunContext): string {
    return `the firmware publishes no ERST table (profile ${ctx.state.firmware?.profile.name ?? 'unknown'})`;
  }

  /** Every ERST record with a handoff section, in store order (records that are no CPER at all are not ours). */
  private ourRecords(ctx: RunContext): { id: bigint; cper: Uint8Array; body: Uint8Array }[] {
    const out: { id: bigint; cper: Uint8Array; body: Uint8Array }[] = [];
    let id: bigint | undefined;
    for (let n = 0; n < 4096; n++) {
      const r = this.fw.acpi.erstRead(ctx, id);
      if (r.status !== ErstStatus.Success || !r.record || r.id === undefined) break;
      try {
        const body = handoffSectionOf(r.record, `ERST record ${r.id}`);
        if (body) out.push({ id: r.id, cper: r.record, body });
      } catch (e) {
        if (!(e instanceof FormatError)) throw e;
      }
      if (r.nextId === undefined || r.nextId === ERST_NO_RECORD_ID) break;
      id = r.nextId;
    }
    return out;
  }
}
