import { injectable } from 'tsyringe';
import { judgeBoot, consumeHandoff, type CrashMarkerAttack, type CrashTrigger, type RouteInput, type StageOperator } from '@efikdump/core';
import { attackerReboot, forgeCrashMarker, replayRoute } from './crash-marker-attack';

/**
 * Root forges a crash marker through the design's transport and reboots, with no panic
 * (docs/threat-model.md): the design's exit is never taken. After the transport's persist, root's
 * reboot goes through the firmware's POST to the stub, whose verdict ends the run
 * (`forgery-rejected` or `false-crash-boot`).
 */
abstract class CrashMarkerTrigger implements CrashTrigger {
  abstract readonly name: string;
  protected abstract readonly kind: CrashMarkerAttack;

  stages(_input: RouteInput): StageOperator[] {
    return [forgeCrashMarker(this.kind)];
  }

  route(input: RouteInput): StageOperator[] | undefined {
    return [attackerReboot(input.firmware), input.firmware.resetAndPost(), input.stub.operator(), judgeBoot()];
  }
}

/** Root writes a marker with a key it made up (it can read the boot nonce, not the key). */
@injectable()
export class ForgedMarkerTrigger extends CrashMarkerTrigger {
  readonly name = 'forged-marker';
  protected readonly kind = 'forged' as const;
}

/** Root reads the key out of kernel memory first, unless Secure Boot and lockdown=confidentiality stop it. */
@injectable()
export class StolenKeyMarkerTrigger extends CrashMarkerTrigger {
  readonly name = 'stolen-key-marker';
  protected readonly kind = 'stolen-key' as const;
}

/**
 * Root writes a genuine record of an earlier crash back. Where the stub decides the boot after the
 * exit (an EFI reset), the earlier crash is simulated: a genuine panic and its capture boot, a
 * normal boot, then the write-back and root's reboot (`replayRoute`). Elsewhere nothing at boot
 * reads markers, and the replay is written like a forged marker.
 */
@injectable()
export class ReplayedMarkerTrigger extends CrashMarkerTrigger {
  readonly name = 'replayed-marker';
  protected readonly kind = 'replayed' as const;

  override stages(input: RouteInput): StageOperator[] {
    return input.exit.stubDecides ? [input.kernel.panic()] : super.stages(input);
  }

  override route(input: RouteInput): StageOperator[] | undefined {
    if (!input.exit.stubDecides) return super.route(input);
    const { firmware, transport, stub, exit } = input;
    return [
      ...replayRoute({
        firmware,
        persist: transport.persist(),
        prepare: transport.prepare(),
        exit: exit.leave(),
        stub: stub.operator(),
        consume: consumeHandoff(transport),
      }),
      judgeBoot(),
    ];
  }
}
