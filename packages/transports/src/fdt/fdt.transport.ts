import { injectable } from 'tsyringe';
import {
  FormatError,
  hex,
  PAGE_SIZE,
  stage,
  buildHandoffRecord,
  clearHandoffSlot,
  readHandoffSlot,
  reportPersisted,
  reportPersistFailure,
  startPersist,
  warnUnsigned,
  decodeHandoffRecord,
  FLAG_ARMED,
  FLAG_CRASHED,
  RECORD_MAX_LOG_BYTES,
  type HandoffArtifact,
  type HandoffDiscovery,
  type HandoffTransport,
  type RunContext,
  type StageOperator,
} from '@efikdump/core';
import { decodeFdt, FDT_MAGIC } from './fdt.codec';
import { decodeHandoffFdt, encodeHandoffFdt } from './handoff-fdt.codec';

/** The blob must fit the handoff page: the page after it holds the capture kernel's image (kernel-crash loads it there). */
export const FDT_MAX_BLOB_BYTES = PAGE_SIZE;
const PERSIST_US = 3;

/** The handoff blob for now, with the log tail cut (halved until it fits) so that the blob stays within one page. */
export function buildHandoffBlob(ctx: RunContext, flags: number): { blob: Uint8Array; recordBytes: number; logBytes: number } {
  for (let max = RECORD_MAX_LOG_BYTES; ; max = Math.floor(max / 2)) {
    const { record, bytes } = buildHandoffRecord(ctx, flags, max);
    const blob = encodeHandoffFdt({ ...record, mac: new Uint8Array(32) }, bytes);
    if (blob.length <= FDT_MAX_BLOB_BYTES || max === 0)
      return { blob, recordBytes: bytes.length, logBytes: Buffer.byteLength(record.logTail) };
  }
}

/**
 * The handoff record as a flattened device tree, Kexec-HandOver style (Linux
 * Documentation/core-api/kho/concepts.rst), in the first page of the crashkernel reservation: a
 * libfdt-format blob whose readable properties describe the reservation and the elfcorehdr, and
 * whose `record` property carries the encoded record (its CRC and MAC are what the stub trusts).
 * `dtc -I dtb -O dts` prints it. No error correction: damage is detected, not repaired.
 */
@injectable()
export class FdtTransport implements HandoffTransport {
  readonly name = 'fdt';

  prepare(): StageOperator {
    return stage('handoff-prepare', (ctx) => {
      warnUnsigned(ctx, this.name, 'handoff-prepare');
      const { blob } = buildHandoffBlob(ctx, FLAG_ARMED);
      this.writePage(ctx, ctx.state.kernel!.handoffSlot, blob);
      ctx.log.emit('handoff-prepare', 'info', `fdt: armed ${blob.length}-byte handoff blob at ${hex(ctx.state.kernel!.handoffSlot)}`);
    });
  }

  persist(): StageOperator {
    return stage('handoff-persist', (ctx) => {
      const cost = startPersist(ctx);
      const slot = ctx.state.kernel!.handoffSlot;
      const { blob, recordBytes } = buildHandoffBlob(ctx, FLAG_ARMED | FLAG_CRASHED);
      if (blob.length > FDT_MAX_BLOB_BYTES)
        return reportPersistFailure(
          ctx,
          this.name,
          cost,
          `the ${blob.length}-byte blob does not fit the ${FDT_MAX_BLOB_BYTES}-byte handoff page`,
        );
      this.writePage(ctx, slot, blob);
      ctx.clock.advance(PERSIST_US);
      reportPersisted(ctx, this.name, cost, hex(slot), recordBytes, blob.length);
    });
  }

  discover(ctx: RunContext): HandoffDiscovery {
    const where = readHandoffSlot(ctx);
    if (!('slot' in where)) return { found: false, reason: where.reason };
    const { page } = where;
    const magic = new DataView(page.buffer).getUint32(0, false);
    if (magic !== FDT_MAGIC)
      return { found: false, reason: `no device tree blob at ${hex(where.slot)} (magic ${hex(magic)}, expected ${hex(FDT_MAGIC)})` };
    let record: Uint8Array | undefined;
    try {
      record = decodeFdt(page, 'handoff page', where.slot).root.props.get('record');
    } catch (e) {
      if (!(e instanceof FormatError)) throw e;
      return { found: false, reason: `damaged device tree blob at ${hex(where.slot)}: ${e.describe()}`, damage: 'corrupt' };
    }
    if (!record) return { found: false, reason: `the device tree blob at ${hex(where.slot)} has no "record" property`, damage: 'corrupt' };
    // When the record itself decodes, the readable properties must agree with it; a record that does not decode is the stub's to judge.
    let recordDecodes = true;
    try {
      decodeHandoffRecord(record, 'record property', where.slot);
    } catch (e) {
      if (!(e instanceof FormatError)) throw e;
      recordDecodes = false;
    }
    if (recordDecodes) {
      try {
        decodeHandoffFdt(page, 'handoff page', where.slot);
      } catch (e) {
        if (!(e instanceof FormatError)) throw e;
        return { found: false, reason: `device tree blob at ${hex(where.slot)}: ${e.message}`, damage: 'corrupt' };
      }
    }
    return { found: true, candidate: { source: this.name, location: hex(where.slot), record } };
  }

  consume(ctx: RunContext): void {
    clearHandoffSlot(ctx);
  }

  /** The blob as memory holds it (for `dtc -I dtb`), and the record it carries. */
  artifacts(ctx: RunContext): HandoffArtifact[] {
    const where = readHandoffSlot(ctx);
    if (!('slot' in where)) return [];
    const { page } = where;
    if (new DataView(page.buffer).getUint32(0, false) !== FDT_MAGIC) return [];
    const total = Math.min(PAGE_SIZE, new DataView(page.buffer).getUint32(4, false));
    const out: HandoffArtifact[] = [{ path: 'handoff.dtb', bytes: page.slice(0, total) }];
    try {
      const record = decodeFdt(page, 'handoff page', where.slot).root.props.get('record');
      if (record) out.push({ path: 'handoff-record.bin', bytes: record });
    } catch (e) {
      if (!(e instanceof FormatError)) throw e;
    }
    return out;
  }

  /** The whole page: the blob, then zeros (no stale bytes of an earlier, longer blob). */
  private writePage(ctx: RunContext, slot: number, blob: Uint8Array): void {
    const page = new Uint8Array(PAGE_SIZE);
    page.set(blob.subarray(0, PAGE_SIZE));
    ctx.machine.memory.write(slot, page);
  }
}
