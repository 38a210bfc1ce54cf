import { inject, injectable } from 'tsyringe';
import {
  FIRMWARE_SERVICES,
  TRANSPORT,
  type CrashDetection,
  type CrashDetector,
  type FirmwareServices,
  type HandoffTransport,
  type RunContext,
} from '@efikdump/core';
import { crashNonceOf } from '../trust/reset-data';
import { peekNonce } from '../trust/validate-candidate';

/**
 * A crashed boot is one the firmware reports as the warm reset the panic path asked for, with
 * ResetData "efikdump: crash <nonce>" (UEFI §8.5.1); the record itself comes from the design's
 * transport and must carry the same nonce. Firmware that drops ResetData (OVMF, domain reference
 * §5.5) never shows a crash this way: that is a finding the run reports.
 */
@injectable()
export class ResetReasonDetector implements CrashDetector {
  readonly name = 'reset-reason';

  constructor(
    @inject(FIRMWARE_SERVICES) private readonly fw: FirmwareServices,
    @inject(TRANSPORT) private readonly transport: HandoffTransport,
  ) {}

  detect(ctx: RunContext): CrashDetection {
    const kept = this.fw.resetReason(ctx);
    if (!kept) {
      const fw = ctx.state.firmware;
      const last = fw?.resets[fw.resets.length - 1];
      if (!last) return { crashed: false, reason: 'no reset before this boot (power-on)' };
      if (fw && !fw.profile.resetDataKept) {
        const lost = last.reason === undefined ? 'none was passed either' : `"${last.reason}" was lost`;
        const finding = `the firmware (profile ${fw.profile.name}) does not keep ResetData across a reset (${lost}): reset-reason cannot see a crash on this platform`;
        return { crashed: false, reason: finding, notes: [finding] };
      }
      return { crashed: false, reason: 'the reset carried no ResetData (the exit strategy passed none)' };
    }
    if (kept.reason === undefined) return { crashed: false, reason: 'the reset carried no ResetData (the exit strategy passed none)' };
    const data = kept.reason;
    const nonce = crashNonceOf(data);
    if (nonce === undefined) return { crashed: false, reason: `ResetData ${JSON.stringify(data)} is not an efikdump crash` };
    const found = this.transport.discover(ctx);
    if (!found.found) {
      const damaged = found.damage ? [{ source: this.name, category: found.damage, reason: found.reason }] : undefined;
      return {
        crashed: false,
        reason: `ResetData says "${data}", but ${this.transport.name} has no record: ${found.reason}`,
        ...(damaged ? { damaged } : {}),
      };
    }
    const record = found.candidate.record;
    if (record.length >= 32 && peekNonce(record) !== nonce) {
      return {
        crashed: false,
        reason: `ResetData names nonce ${nonce}, the record carries ${peekNonce(record)}`,
        damaged: [
          {
            source: this.name,
            category: 'replayed',
            reason: `ResetData names nonce ${nonce}, the ${this.transport.name} record at ${found.candidate.location} carries ${peekNonce(record)}`,
          },
        ],
      };
    }
    return {
      crashed: true,
      evidence: `ResetData "${data}" (${kept.effective} reset) and the ${this.transport.name} record at ${found.candidate.location}`,
      candidates: [found.candidate],
    };
  }
}
