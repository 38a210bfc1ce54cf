import { injectable } from 'tsyringe';
import {
  EfikdumpError, hex, PAGE_SIZE, Rng, stage, systemRamFromMemoryMap, TransportError,
  type HandoffInfo, type HandoffTransport, type RunContext, type StageOperator,
} from '@efikdump/core';
import { handoffSlotOf, parseCrashkernel, placeCrashkernel } from '@efikdump/kernel-crash';
import { decodeHandoffRecord, encodeHandoffRecord, FLAG_ARMED, FLAG_CRASHED, RECORD_MAX_BYTES } from './handoff-record.codec';

/**
 * The handoff record in the first page of the crashkernel reservation. The stub finds the page
 * the way the kernel chose it: from `crashkernel=` on the same command line and the EFI memory
 * map, which a warm reset does not change. Costs nothing at panic time; lost exactly when the
 * firmware overwrites that page.
 */
@injectable()
export class ReservedMemoryTransport implements HandoffTransport {
  readonly name = 'reserved-memory';

  prepare(): StageOperator {
    return stage('handoff-prepare', (ctx) => {
      const info = this.currentInfo(ctx, 0);
      this.writeRecord(ctx, FLAG_ARMED, info);
      ctx.log.emit('handoff-prepare', 'info', `handoff record armed at ${hex(ctx.state.kernel!.handoffSlot)}`);
    });
  }

  persist(): StageOperator {
    return stage('handoff-persist', (ctx) => {
      const bytes = this.writeRecord(ctx, FLAG_ARMED | FLAG_CRASHED, this.currentInfo(ctx, ctx.state.panic!.unixTime));
      ctx.state.handoff = { transport: this.name, location: hex(ctx.state.kernel!.handoffSlot), bytes };
      ctx.metrics.handoffBytes = bytes;
      ctx.metrics.nvramBytesWritten = 0;
      ctx.clock.advance(1);
    });
  }

  discover(ctx: RunContext): { found: true; info: HandoffInfo; location: string } | { found: false; reason: string } {
    const map = ctx.state.memoryMap;
    if (!map) return { found: false, reason: 'no memory map' };
    let slot: number;
    try {
      const spec = parseCrashkernel(ctx.design.kernel.cmdline);
      const placement = spec && placeCrashkernel(spec, systemRamFromMemoryMap(map), ctx.machine.ramBytes, ctx.design.source);
      if (!placement) return { found: false, reason: 'the command line reserves no crashkernel region' };
      slot = handoffSlotOf(placement.ranges);
    } catch (e) {
      if (e instanceof EfikdumpError) return { found: false, reason: e.describe() };
      throw e;
    }
    const buf = new Uint8Array(RECORD_MAX_BYTES);
    ctx.machine.memory.read(slot, buf);
    try {
      const record = decodeHandoffRecord(buf, 'reserved-memory slot', slot);
      if (!(record.flags & FLAG_CRASHED)) return { found: false, reason: `record at ${hex(slot)} is armed but no crash was recorded` };
      return { found: true, info: record.info, location: hex(slot) };
    } catch (e) {
      if (e instanceof EfikdumpError) return { found: false, reason: `no valid record at ${hex(slot)}: ${e.message}` };
      throw e;
    }
  }

  consume(ctx: RunContext): void {
    const slot = ctx.state.kernel?.handoffSlot;
    if (slot !== undefined) ctx.machine.memory.write(slot, new Uint8Array(PAGE_SIZE));
  }

  private currentInfo(ctx: RunContext, crashTimeUnix: number): HandoffInfo {
    const kernel = ctx.state.kernel;
    if (!kernel?.elfcorehdr) throw new TransportError('the kdump service has not loaded an elfcorehdr', { field: 'transport' });
    return {
      version: 1,
      bootNonce: new Rng(ctx.seed, 0xb007, ctx.state.bootCount).nextU64().toString(16).padStart(16, '0'),
      crashkernel: kernel.crashkernel,
      elfcorehdr: kernel.elfcorehdr,
      crashTimeUnix,
      cpus: ctx.machine.cpus,
    };
  }

  private writeRecord(ctx: RunContext, flags: number, info: HandoffInfo): number {
    const bytes = encodeHandoffRecord({ flags, info });
    ctx.machine.memory.write(ctx.state.kernel!.handoffSlot, bytes);
    return bytes.length;
  }
}
