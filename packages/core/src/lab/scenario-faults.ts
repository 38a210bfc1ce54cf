/**
 * The scenario's faults on a genuine crash's handoff record (torn write, DMA during the reset),
 * injected by the runner around the transport's persist: the laboratory's fault injection.
 */
import type { HandoffRecordFault } from '../config';
import type { StageOperator } from '../contracts';
import type { RunContext } from '../context';
import { hashString, Rng } from '../rng';
import { stage } from '../stage';
import { hex, PAGE_SIZE } from '../units';

/** The stored record lives in the handoff page of RAM (reserved-memory, fdt), where a torn write or DMA can reach it. */
function recordPage(ctx: RunContext): number | undefined {
  const slot = ctx.state.kernel?.handoffSlot;
  const h = ctx.state.handoff;
  if (slot === undefined || !h || h.failure || h.location !== hex(slot)) return undefined;
  return slot;
}

const LINE = 64;

/**
 * The scenario's damage to a genuine crash's handoff record: returns the stage to run before the
 * panic-time persist (it keeps the armed page for a torn write) and the one that applies the
 * damage (right after persist for `torn-write`; after the exit, before POST resets the devices,
 * for `dma-during-reset`). Records in flash (EFI variables, ERST) are out of reach of both: their
 * torn write is the firmware's NV fault (scenario torn-nvram-write). [modelled]
 */
export function handoffRecordFault(kind: HandoffRecordFault | undefined): { before: StageOperator; damage: StageOperator } | undefined {
  if (!kind) return undefined;
  let armed: Uint8Array | undefined;
  const before = stage('handoff-fault', (ctx) => {
    const slot = ctx.state.kernel?.handoffSlot;
    if (slot === undefined) return;
    armed = new Uint8Array(PAGE_SIZE);
    ctx.machine.memory.read(slot, armed);
  });
  const damage = stage('handoff-fault', (ctx) => {
    const slot = recordPage(ctx);
    if (slot === undefined) {
      const where = ctx.state.handoff?.failure
        ? 'no record was stored'
        : `the record is at ${ctx.state.handoff?.location ?? 'no location'}, not in RAM`;
      ctx.state.handoffFault = {
        kind,
        landed: false,
        detail: `${where}: out of reach of a ${kind === 'torn-write' ? 'torn RAM write' : "device's DMA"}`,
      };
      ctx.metrics.handoffFaultLanded = false;
      ctx.log.emit('handoff-fault', 'info', `${kind}: ${ctx.state.handoffFault.detail}`);
      return;
    }
    const page = new Uint8Array(PAGE_SIZE);
    ctx.machine.memory.read(slot, page);
    const rng = new Rng(ctx.seed, hashString(`handoff-fault:${kind}`));
    if (kind === 'torn-write') {
      // The reset discards dirty cache lines the panic path never wrote back: each changed 64-byte line reached DRAM or not; at least one did not.
      const old = armed ?? new Uint8Array(PAGE_SIZE);
      const changed: number[] = [];
      for (let l = 0; l < PAGE_SIZE / LINE; l++) {
        for (let i = l * LINE; i < (l + 1) * LINE; i++)
          if (page[i] !== old[i]) {
            changed.push(l);
            break;
          }
      }
      const lost = changed.filter(() => rng.next() < 0.5);
      if (changed.length && !lost.length) lost.push(changed[rng.below(changed.length)]);
      for (const l of lost) page.set(old.subarray(l * LINE, (l + 1) * LINE), l * LINE);
      ctx.machine.memory.write(slot, page);
      ctx.state.handoffFault = {
        kind,
        landed: lost.length > 0,
        detail: `${lost.length} of the record's ${changed.length} changed cache lines never reached DRAM before the reset`,
      };
    } else {
      // A device still running after ResetSystem writes one burst (64 B to 2 KiB) into the handoff page before POST resets it.
      const bytes = LINE * (1 + rng.below(32));
      const at = LINE * rng.below((PAGE_SIZE - bytes) / LINE + 1);
      const burst = new Uint8Array(bytes);
      rng.fill(burst);
      page.set(burst, at);
      ctx.machine.memory.write(slot, page);
      const device = ctx.scenario.machine.devices[0]?.name ?? 'a DMA-capable device';
      ctx.state.handoffFault = {
        kind,
        landed: true,
        detail: `${device} wrote ${bytes} bytes at ${hex(slot + at)}, inside the handoff page, during the reset`,
      };
    }
    ctx.metrics.handoffFaultLanded = ctx.state.handoffFault.landed;
    ctx.log.emit('handoff-fault', 'warn', `${kind}: ${ctx.state.handoffFault.detail}`);
  });
  return { before, damage };
}
