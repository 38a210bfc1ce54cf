import { inject, injectable } from 'tsyringe';
import {
  SimulationError,
  DETECTOR,
  FIRMWARE_SERVICES,
  ms,
  PAGE_SIZE,
  pageAlignUp,
  stage,
  subtractRanges,
  systemRamFromMemoryMap,
  formatSize,
  intersectRanges,
  kdumpOptionsOf,
  lostPageCount,
  mergeRanges,
  bootServicesFootprint,
  CAPTURE_CMDLINE_EXTRA,
  memmapArgs,
  notesInReservation,
  runCrashkernel,
  type LostRange,
  type CrashDetector,
  type EfiStub,
  type FirmwareServices,
  type HandoffCandidate,
  type HandoffInfo,
  type HandoffRejection,
  type PhysRange,
  type RunContext,
  type StageOperator,
  type StubState,
} from '@efikdump/core';
import { freshBootSecret, readBootSecret, storeBootSecret, type BootSecret } from './trust/boot-secret';
import { validateCandidate } from './trust/validate-candidate';

export { CAPTURE_CMDLINE_EXTRA, memmapArgs };

/** The metric counting rejections of a category: handoffRejectedForged, handoffRejectedWrongReservation, ... */
export const rejectionMetric = (c: HandoffRejection): string =>
  `handoffRejected${c
    .split('-')
    .map((w) => w[0].toUpperCase() + w.slice(1))
    .join('')}`;
export const REJECTION_CATEGORIES: readonly HandoffRejection[] = [
  'forged',
  'replayed',
  'truncated',
  'corrupt',
  'wrong-reservation',
  'loop',
];

/**
 * The kernel's EFI stub, on every boot, with the RFD's hook after the command line is parsed and
 * before the e820 map is built:
 *
 * 1. read the secret it issued on the previous boot from a boot-services-only NV variable;
 * 2. ask the detector for candidate records and validate each (CRC, HMAC with the previous key,
 *    the previous boot's nonce, the crashed flag, the reservation crashkernel= places, the
 *    elfcorehdr digest, no capture boot twice in a row); the first valid one makes this a
 *    crashed boot, every refusal is in the timeline with its category and counted;
 * 3. issue a fresh key and nonce into that variable and hand them to the kernel in memory;
 * 4. ExitBootServices, then boot: normally, or as a capture kernel limited to the reservation
 *    with `elfcorehdr=` — the inputs kexec-tools would have given, so the vmcore code is unchanged.
 *
 * The stub only reports; the run's `judge` stage decides what its verdict means.
 */
@injectable()
export class LinuxEfiStub implements EfiStub {
  constructor(
    @inject(DETECTOR) private readonly detector: CrashDetector,
    @inject(FIRMWARE_SERVICES) private readonly fw: FirmwareServices,
  ) {}

  operator(): StageOperator {
    return stage('stub', (ctx) => {
      const boot = ctx.state.bootCount;
      // The stub is the OS loader: boot services are up when it starts; it calls ExitBootServices.
      if (ctx.state.firmware?.atRuntime) throw new SimulationError('the stub started after ExitBootServices');
      ctx.clock.advance(ms(150));
      for (const c of REJECTION_CATEGORIES) ctx.metrics[rejectionMetric(c)] ??= 0;

      const { secret: previous, note } = readBootSecret(ctx, this.fw);
      if (note) ctx.log.emit('stub', /planted|malformed|returned/.test(note) ? 'warn' : 'info', note);
      const verdict = this.decide(ctx, previous);

      // Rotate: a fresh secret for the kernel this stub boots, whatever the verdict.
      const next = freshBootSecret(ctx, previous, verdict.accepted ? (previous?.captureBoots ?? 0) + 1 : 0);
      const status = storeBootSecret(ctx, this.fw, next);
      if (status === 'EFI_SUCCESS') {
        ctx.state.bootSecret = { keyHex: Buffer.from(next.key).toString('hex'), nonce: next.nonce };
      } else {
        delete ctx.state.bootSecret;
        ctx.log.emit(
          'stub',
          'warn',
          `SetVariable(EfikdumpBootSecret) returned ${status}: no boot secret for this boot; a crash of it cannot be captured`,
        );
      }
      ctx.metrics.captureBoots = ((ctx.metrics.captureBoots as number | undefined) ?? 0) + (verdict.accepted ? 1 : 0);
      ctx.state.stub = verdict.state;
      this.fw.variables.exitBootServices(ctx);
      ctx.log.emit(
        'stub',
        'info',
        verdict.accepted
          ? `crashed boot detected (${verdict.state.reason}); booting the capture kernel with elfcorehdr=${verdict.accepted.elfcorehdr.paddr / 1024}K`
          : `boot #${boot} is a normal boot: ${verdict.state.reason}`,
      );
    });
  }

  /** Detection and validation: the stub's verdict for this boot. */
  private decide(ctx: RunContext, previous: BootSecret | undefined): { state: StubState; accepted?: HandoffInfo } {
    const boot = ctx.state.bootCount;
    const detection = this.detector.detect(ctx);
    for (const n of detection.notes ?? []) ctx.log.emit('stub', 'warn', `${this.detector.name}: ${n}`);
    const rejected: NonNullable<StubState['rejected']> = [];
    const refuse = (category: HandoffRejection, source: string, reason: string) => {
      rejected.push({ category, source, reason });
      ctx.metrics[rejectionMetric(category)] = (ctx.metrics[rejectionMetric(category)] as number) + 1;
      ctx.log.emit('stub', 'warn', `handoff rejected (${category}): ${source}: ${reason}`);
    };
    for (const d of detection.damaged ?? []) refuse(d.category, d.source, d.reason);
    const normal = (reason: string): { state: StubState } => ({
      state: { crashedBoot: false, detector: this.detector.name, reason, boot, ...(rejected.length ? { rejected } : {}) },
    });
    const firstRejection = () => `handoff rejected (${rejected[0].category}): ${rejected[0].source}: ${rejected[0].reason}`;
    if (!detection.crashed) return normal(rejected.length ? firstRejection() : detection.reason);

    const map = ctx.state.memoryMap;
    const systemRam = map ? systemRamFromMemoryMap(map) : [];
    const placement = map ? runCrashkernel(ctx, systemRam).placement : undefined;
    let armed: string | undefined;
    for (const c of detection.candidates) {
      ctx.metrics.handoffCandidates = ((ctx.metrics.handoffCandidates as number | undefined) ?? 0) + 1;
      if (!placement) {
        refuse('wrong-reservation', c.source, 'crashkernel= reserves nothing on this machine');
        continue;
      }
      const v = validateCandidate(c, { previous, systemRam, memory: ctx.machine.memory, expectedReservation: placement.ranges });
      if (v.kind === 'rejected') refuse(v.category, `${c.source} at ${c.location}`, v.reason);
      else if (v.kind === 'armed') armed ??= v.reason;
      else return this.captureBoot(ctx, c, v.info, v.record.reason, v.record.logTail, rejected);
    }
    return normal(rejected.length ? firstRejection() : (armed ?? detection.evidence));
  }

  /** The capture kernel may use the reservation except the handoff page and the elfcorehdr. */
  private captureBoot(
    ctx: RunContext,
    c: HandoffCandidate,
    info: HandoffInfo,
    crashReason: string,
    logTail: string,
    rejected: NonNullable<StubState['rejected']>,
  ): { state: StubState; accepted: HandoffInfo } {
    const reserved: PhysRange[] = [
      { start: info.crashkernel[0].start, end: info.crashkernel[0].start + PAGE_SIZE },
      { start: info.elfcorehdr.paddr, end: info.elfcorehdr.paddr + pageAlignUp(info.elfcorehdr.size) },
      // A VMCOREINFO copy the crashed kernel rescued into the reservation stays out of the capture kernel's RAM.
      ...notesInReservation((p, dst) => ctx.machine.memory.read(p, dst), info.elfcorehdr, info.crashkernel),
    ];
    const captureRam = subtractRanges(info.crashkernel, reserved);
    const captureCmdline = `${CAPTURE_CMDLINE_EXTRA} ${memmapArgs(captureRam)} elfcorehdr=${info.elfcorehdr.paddr / 1024}K`;
    if (c.correctedBytes) {
      ctx.metrics.handoffCorrectedBytes = c.correctedBytes;
      ctx.log.emit(
        'stub',
        'info',
        `${c.source}: error correction repaired ${c.correctedBytes} bytes of the record's container at ${c.location}`,
      );
    }
    if (crashReason) ctx.log.emit('stub', 'info', `the crashed kernel said: ${crashReason}`);
    const declaredLost = declaredLoss(ctx, info.crashkernel);
    if (declaredLost.length)
      ctx.log.emit(
        'stub',
        'info',
        `old memory the firmware may have written since the crash: ${lostPageCount(declaredLost)} pages (${formatSize(lostPageCount(declaredLost) * PAGE_SIZE)}) in ${declaredLost.length} ranges, declared lost to the capture kernel`,
      );
    return {
      accepted: info,
      state: {
        crashedBoot: true,
        detector: this.detector.name,
        reason: `${c.source} record at ${c.location}`,
        boot: ctx.state.bootCount,
        handoff: info,
        captureCmdline,
        captureRam,
        ...(declaredLost.length ? { declaredLost } : {}),
        record: { source: c.source, location: c.location, reason: crashReason, logTail },
        ...(rejected.length ? { rejected } : {}),
      },
    };
  }
}

/**
 * What the stub declares lost (kdump.declareLoss): old System RAM, outside the reservation, that
 * the firmware may have written since the crash — this boot's firmware footprint as its own memory
 * map shows it (boot-services and loader memory: the firmware is the same, so it used the same
 * memory on the way here), and/or what the firmware profile's measurement predicts POST writes.
 */
export function declaredLoss(ctx: RunContext, crashkernel: readonly PhysRange[]): LostRange[] {
  const choice = kdumpOptionsOf(ctx.design).declareLoss;
  const map = ctx.state.memoryMap;
  if (choice === 'none' || !map) return [];
  const parts: PhysRange[] = [];
  if (choice === 'footprint' || choice === 'footprint-and-measured') parts.push(...bootServicesFootprint(map));
  if (choice === 'measured' || choice === 'footprint-and-measured') parts.push(...(ctx.state.firmware?.postPrediction ?? []));
  const oldRam = ctx.state.kernel?.systemRam ?? systemRamFromMemoryMap(map);
  const pageAligned = mergeRanges(parts).map((r) => ({ start: Math.floor(r.start / PAGE_SIZE) * PAGE_SIZE, end: pageAlignUp(r.end) }));
  return subtractRanges(intersectRanges(mergeRanges(pageAligned), oldRam), crashkernel).map((r) => ({
    ...r,
    reason: 'firmware-footprint' as const,
  }));
}
