import {
  bootSecretReadable,
  EPOCH_UNIX,
  hashString,
  Rng,
  seconds,
  stage,
  type CrashMarkerAttack,
  type Firmware,
  type RunContext,
  type StageOperator,
} from '@efikdump/core';

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
    attackerReboot(parts.firmware),
    parts.firmware.resetAndPost(),
    parts.stub,
  ];
}

/**
 * Root's `reboot` after writing its marker: EfiResetWarm one second later, carrying the
 * ResetData the transport's persist asked for (what a genuine panic path would pass).
 */
export function attackerReboot(firmware: Firmware): StageOperator {
  return stage('reboot', (ctx) => {
    ctx.clock.advance(seconds(1));
    firmware.resetSystem(ctx, 'warm', ctx.state.handoff?.resetData);
  });
}
