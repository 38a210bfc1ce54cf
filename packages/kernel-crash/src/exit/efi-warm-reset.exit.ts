import { inject, injectable } from 'tsyringe';
import { FIRMWARE, judgeBoot, ms, stage, type ExitStrategy, type Firmware, type RouteInput, type StageOperator } from '@efikdump/core';

/** The panic path's reboot through EFI (Linux drivers/firmware/efi/reboot.c): 5 ms [modelled] from the decision to the firmware call. */
export const EFI_RESET_CALL_US = ms(5);

/**
 * Leaves the panic through ResetSystem: the runtime lock is taken by trylock on this path, the
 * firmware resets the devices (their DMA runs until then, through the 1st kernel's IOMMU tables)
 * and boots the stub again. A transport may ask for a reset reason (ResetData) the next boot can read.
 */
abstract class EfiResetExit implements ExitStrategy {
  abstract readonly name: string;
  readonly stubDecides = true;
  protected abstract readonly resetType: 'warm' | 'cold';

  constructor(protected readonly firmware: Firmware) {}

  /** ResetSystem, the firmware's POST, the stub and its verdict on this boot, then the capture kernel the stub chose. */
  route(input: RouteInput): StageOperator[] {
    return [
      this.leave(),
      ...input.inFlight,
      input.firmware.resetAndPost(),
      input.stub.operator(),
      judgeBoot(),
      input.capture.boot(),
      input.capture.vmcoreInit(),
    ];
  }

  leave(): StageOperator {
    return stage('exit', (ctx) => {
      ctx.clock.advance(EFI_RESET_CALL_US);
      ctx.state.devices?.runDma(
        ctx,
        ctx.clock.nowUs - (ctx.state.panic?.tUs ?? ctx.clock.nowUs),
        'kernel',
        'between the panic and the reset',
      );
      this.firmware.resetSystem(ctx, this.resetType, ctx.state.handoff?.resetData);
    });
  }
}

/** The RFD's exit: ResetSystem(EfiResetWarm) instead of a jump into a crash kernel. */
@injectable()
export class EfiWarmResetExit extends EfiResetExit {
  readonly name = 'efi-warm-reset';
  protected readonly resetType = 'warm' as const;

  constructor(@inject(FIRMWARE) firmware: Firmware) {
    super(firmware);
  }
}

/** ResetSystem(EfiResetCold): every device is reset and RAM goes unpowered for the profile's power-off time (decay, ECC initialisation). */
@injectable()
export class EfiColdResetExit extends EfiResetExit {
  readonly name = 'efi-cold-reset';
  protected readonly resetType = 'cold' as const;

  constructor(@inject(FIRMWARE) firmware: Firmware) {
    super(firmware);
  }
}
