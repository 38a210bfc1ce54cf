import { inject, injectable } from 'tsyringe';
import { FIRMWARE, ms, stage, type ExitStrategy, type Firmware, type StageOperator } from '@efikdump/core';

/**
 * The RFD's exit: instead of jumping into a crash kernel, call ResetSystem(EfiResetWarm) through
 * the EFI runtime services (Linux drivers/firmware/efi/reboot.c; the runtime lock is taken by
 * trylock on this path). The firmware resets the devices and boots the stub again.
 */
@injectable()
export class EfiWarmResetExit implements ExitStrategy {
  readonly name = 'efi-warm-reset';

  constructor(@inject(FIRMWARE) private readonly firmware: Firmware) {}

  operator(): StageOperator {
    return stage('exit', (ctx) => {
      ctx.clock.advance(ms(5));
      // A transport may ask for a reset reason (ResetData) the next boot can read.
      this.firmware.resetSystem(ctx, 'warm', ctx.state.handoff?.resetData);
    });
  }
}
