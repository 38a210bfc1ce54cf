import { bootSecretReadable, type CrashMarkerAttack, type HandoffRecordFault } from './config';
import { EPOCH_UNIX, seconds } from './clock';
import type { Firmware, StageOperator } from './contracts';
import type { RunContext } from './context';
import { hashString, Rng } from './rng';
import { stage } from './stage';
import { hex, PAGE_SIZE } from './units';

/**
 * The crash-marker attacks (docs/threat-model.md): root in the 1st kernel writes a "crashed"
 * record through the design's transport and reboots, without any panic.
 *
 * - `forged`: root reads the boot nonce (it is in the armed record) but not the key, so the record
 *   carries a MAC under a key root made up.
 * - `stolen-key`: root reads the key out of kernel memory (/proc/kcore, BPF, /dev/mem) — possible
 *   unless Secure Boot keeps unsigned kernels and modules out and lockdown=confidentiality closes
 *   every read of kernel memory. With the key the record is genuine in every byte the stub checks.
 * - `replayed` (on designs without an EFI stub that reads markers): written like `forged`; nothing
 *   reads it at boot. On stub designs the replay route below is used instead.
 */
export function forgeCrashMarker(kind: CrashMarkerAttack = 'forged'): StageOperator {
  return stage('attack', (ctx) => {
    const stolen = kind === 'stolen-key' && ctx.state.bootSecret !== undefined && bootSecretReadable(ctx.scenario);
    if (stolen) {
      ctx.log.emit(
        'attack',
        'warn',
        'root reads the boot secret out of kernel memory (no Secure Boot + lockdown=confidentiality to stop /proc/kcore, BPF or /dev/mem)',
      );
    } else {
      if (kind === 'stolen-key')
        ctx.log.emit(
          'attack',
          'info',
          'Secure Boot with lockdown=confidentiality: kernel memory is unreadable to root, the key cannot be stolen; root makes one up',
        );
      const rng = new Rng(ctx.seed, hashString('attacker-key'));
      const key = new Uint8Array(32);
      rng.fill(key);
      ctx.state.bootSecret = { keyHex: Buffer.from(key).toString('hex'), nonce: ctx.state.bootSecret?.nonce ?? '0'.repeat(16) };
    }
    ctx.state.forgery = { kind, ...(kind === 'stolen-key' ? { keyStolen: stolen } : {}) };
    ctx.state.panic = {
      cpu: 0,
      unixTime: EPOCH_UNIX + Math.floor(ctx.clock.nowUs / 1e6),
      reason: `forged crash marker (root, no panic; ${kind})`,
      tUs: ctx.clock.nowUs,
    };
    ctx.log.emit(
      'attack',
      'warn',
      `root forges a crash marker (${kind}${stolen ? ', with the stolen key' : ''}) through the handoff transport and reboots (no panic)`,
    );
  });
}

/**
 * The replay attack on a design whose EFI stub reads crash markers: a genuine crash on boot 1
 * stores a genuine record; boot 2 is its capture boot, which consumes it; on boot 3, a normal
 * boot, root writes the boot-1 record back through the transport and reboots. Root never had
 * boot 1's key: the simulation regenerates the record with boot 1's secret, standing in for the
 * bytes root saved (the MAC and nonce are boot 1's, which is all the stub's check can see).
 * The route starts after the genuine crash's panic and persist; `exit` is the design's way out
 * (ExitStrategy.leave), `persist` the transport's, used again for root's write-back.
 */
export function replayRoute(parts: {
  firmware: Firmware;
  persist: StageOperator;
  prepare: StageOperator;
  exit: StageOperator;
  stub: StageOperator;
  consume: StageOperator;
}): StageOperator[] {
  let saved: { bootSecret: NonNullable<RunContext['state']['bootSecret']>; panic: NonNullable<RunContext['state']['panic']> } | undefined;
  const keep = stage('attack', (ctx) => {
    if (ctx.state.bootSecret && ctx.state.panic) saved = { bootSecret: { ...ctx.state.bootSecret }, panic: { ...ctx.state.panic } };
    ctx.log.emit(
      'attack',
      'info',
      `root will keep a copy of boot #${ctx.state.bootCount}'s crashed handoff record (${ctx.state.handoff?.location ?? 'nowhere'})`,
    );
  });
  const reboot = stage('reboot', (ctx) => {
    // The capture environment saves the dump and reboots into a normal boot (the capture kernel itself is not simulated here).
    ctx.clock.advance(seconds(30));
    parts.firmware.resetSystem(ctx, 'warm');
  });
  const writeBack = stage('attack', (ctx) => {
    if (saved) {
      ctx.state.bootSecret = { ...saved.bootSecret };
      ctx.state.panic = { ...saved.panic };
    } else {
      ctx.log.emit('attack', 'warn', 'the earlier crash stored no signed record; root replays what it has');
    }
    ctx.state.forgery = { kind: 'replayed' };
    ctx.log.emit(
      'attack',
      'warn',
      `root writes the crashed record of an earlier boot (nonce ${saved?.bootSecret.nonce ?? 'none'}) back through the handoff transport and reboots (no panic)`,
    );
  });
  const attackerReboot = stage('reboot', (ctx) => {
    ctx.clock.advance(seconds(1));
    parts.firmware.resetSystem(ctx, 'warm', ctx.state.handoff?.resetData);
  });
  // The genuine crash's panic and persist run before this route (the trigger, then the runner's persist).
  return [
    keep,
    parts.exit,
    parts.firmware.resetAndPost(),
    parts.stub,
    parts.consume,
    reboot,
    parts.firmware.resetAndPost(),
    parts.stub,
    parts.prepare,
    writeBack,
    parts.persist,
    attackerReboot,
    parts.firmware.resetAndPost(),
    parts.stub,
  ];
}

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
