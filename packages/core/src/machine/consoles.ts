import type { RunContext } from '../context';

/** Whether a kernel command line sends the console to a serial port (`console=ttyS<n>`). */
export const namesSerialConsole = (cmdline: string): boolean => /(^|\s)console=ttyS\d/.test(cmdline);

/**
 * Records where the capture kernel's output can be seen (domain reference §8): on the screen when
 * the firmware re-initialised GOP after a reset (`screen`), else on the serial port when the
 * platform has one and the design's command line names it, else nowhere. Sets the firmware's
 * console report and the run's `consoleSeen` and `console` metrics; returns the console.
 */
export function recordCaptureConsole(ctx: RunContext, screen: boolean): 'serial' | 'gop' | 'none' {
  const fw = ctx.state.firmware;
  const serial = !!fw?.profile.serial && namesSerialConsole(ctx.design.kernel.cmdline);
  const via = screen ? 'gop' : serial ? 'serial' : 'none';
  if (fw) fw.consoles = { serial: fw.profile.serial, gop: fw.profile.gop, captureOutputSeen: via !== 'none', via };
  ctx.metrics.consoleSeen = via !== 'none';
  ctx.metrics.console = via;
  return via;
}
