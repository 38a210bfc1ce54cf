import { injectable } from 'tsyringe';
import type { CrashDetection, CrashDetector } from '@efikdump/core';

/**
 * No detection: classic kdump and fadump never ask the stub whether a boot is a crashed one (the
 * capture kernel is entered by a jump, or the platform tells the kernel). Every boot through the
 * firmware is a normal boot.
 */
@injectable()
export class NoDetector implements CrashDetector {
  readonly name = 'none';

  detect(): CrashDetection {
    return { crashed: false, reason: 'this design does not look for crashed boots in the stub' };
  }
}
