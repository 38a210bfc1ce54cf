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
  startPersist,
  warnUnsigned,
  FLAG_ARMED,
  FLAG_CRASHED,
  type HandoffArtifact,
  type HandoffDiscovery,
  type HandoffTransport,
  type RunContext,
  type StageOperator,
} from '@efikdump/core';
import { decodeZone, encodeZone, ZONE_SIGNATURE } from './persistent-zone.codec';

/** Cost of the panic-time write: one 4 KiB page of RAM with its parity, no firmware call. */
const PERSIST_US = 2;

/**
 * The handoff record inside a ramoops-like persistent zone (signature, CRC-32, Reed–Solomon
 * parity per 128-byte block) in the first page of the crashkernel reservation. The stub finds the
 * page the way the kernel chose it: from `crashkernel=` on the same command line and the EFI
 * memory map. Costs almost nothing at panic time and no NVRAM; the parity repairs scattered bit
 * flips (DRAM decay); a firmware that overwrites the page (scratch, MOR, ECC init) destroys it.
 */
@injectable()
export class ReservedMemoryTransport implements HandoffTransport {
  readonly name = 'reserved-memory';

  prepare(): StageOperator {
    return stage('handoff-prepare', (ctx) => {
      warnUnsigned(ctx, this.name, 'handoff-prepare');
      const { bytes } = buildHandoffRecord(ctx, FLAG_ARMED);
      ctx.machine.memory.write(ctx.state.kernel!.handoffSlot, encodeZone(bytes));
      ctx.log.emit(
        'handoff-prepare',
        'info',
        `reserved-memory: armed record in a persistent zone at ${hex(ctx.state.kernel!.handoffSlot)}`,
      );
    });
  }

  persist(): StageOperator {
    return stage('handoff-persist', (ctx) => {
      const cost = startPersist(ctx);
      const { bytes } = buildHandoffRecord(ctx, FLAG_ARMED | FLAG_CRASHED);
      const slot = ctx.state.kernel!.handoffSlot;
      ctx.machine.memory.write(slot, encodeZone(bytes));
      ctx.clock.advance(PERSIST_US);
      reportPersisted(ctx, this.name, cost, hex(slot), bytes.length, PAGE_SIZE);
    });
  }

  discover(ctx: RunContext): HandoffDiscovery {
    const where = readHandoffSlot(ctx);
    if (!('slot' in where)) return { found: false, reason: where.reason };
    const { page } = where;
    try {
      const zone = decodeZone(page, 'reserved-memory slot', where.slot);
      return {
        found: true,
        candidate: { source: this.name, location: hex(where.slot), record: zone.data, correctedBytes: zone.correctedBytes },
      };
    } catch (e) {
      if (!(e instanceof FormatError)) throw e;
      // No signature: nothing of ours is there. A signed zone that does not decode was ours and is damaged.
      const signed = new DataView(page.buffer).getUint32(0, true) === ZONE_SIGNATURE;
      if (!signed && /signature/.test(e.message)) return { found: false, reason: `no persistent zone at ${hex(where.slot)}: ${e.message}` };
      return { found: false, reason: `damaged persistent zone at ${hex(where.slot)}: ${e.message}`, damage: 'corrupt' };
    }
  }

  consume(ctx: RunContext): void {
    clearHandoffSlot(ctx);
  }

  /** The zone page as it is in memory now, and the record it holds. */
  artifacts(ctx: RunContext): HandoffArtifact[] {
    const where = readHandoffSlot(ctx);
    if (!('slot' in where)) return [];
    const { page } = where;
    const out: HandoffArtifact[] = [{ path: 'reserved-zone.bin', bytes: page }];
    try {
      out.push({ path: 'handoff-record.bin', bytes: decodeZone(page, 'reserved-memory slot', where.slot).data });
    } catch (e) {
      if (!(e instanceof FormatError)) throw e;
    }
    return out;
  }
}
