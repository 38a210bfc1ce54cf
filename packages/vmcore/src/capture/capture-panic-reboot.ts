import { formatDuration, seconds, stage, type Firmware, type StageOperator } from '@efikdump/core';

/** A capture kernel that panics reboots after `panic=10` (the capture command line, domain reference §1.4). */
export const CAPTURE_PANIC_REBOOT_US = seconds(10);

/**
 * The panicked capture kernel's reboot: `panic=10` seconds later, EfiResetWarm through the
 * firmware, without a crash reason of ours (it has no crash kernel of its own).
 */
export function capturePanicReboot(firmware: Firmware): StageOperator {
  return stage('reboot', (ctx) => {
    ctx.clock.advance(CAPTURE_PANIC_REBOOT_US);
    ctx.log.emit('reboot', 'info', `the capture kernel reboots after panic=10 (${formatDuration(CAPTURE_PANIC_REBOOT_US)})`);
    firmware.resetSystem(ctx, 'warm');
  });
}
