import { EfikdumpError, type ErrorPlace } from '@efikdump/core';

/**
 * The emulator or its firmware did not do what the probe needed: QEMU exited or failed to start,
 * QMP answered with an error, the firmware never reached the end of POST in time. Missing tools
 * or firmware files are ConfigErrors instead (the user fixes them by installing packages).
 */
export class ProbeError extends EfikdumpError {
  readonly exitCode = 8;
  /** The last lines of the guest's serial console, when there was one. */
  readonly serialTail?: string;

  constructor(message: string, place: ErrorPlace & { serialTail?: string } = {}) {
    super(message, place);
    this.serialTail = place.serialTail;
  }
}
