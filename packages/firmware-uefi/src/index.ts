import type { DependencyContainer } from 'tsyringe';
import { registerPlugin } from '@efikdump/core';
import { UefiFirmware } from './uefi.firmware';
import { RetainAllRetention } from './retention/retain-all.retention';

export { UefiFirmware, POST_TIMING_US } from './uefi.firmware';
export { RetainAllRetention } from './retention/retain-all.retention';
export { buildMemoryMap, platformRam } from './memory-map/platform-memory-map';

/** Binds this package's plug-ins: firmware `uefi`, retention `retain-all`. */
export function register(container: DependencyContainer): void {
  registerPlugin(container, 'firmware', 'uefi', UefiFirmware, 'UEFI platform: EFI memory map, POST, ResetSystem, boot into the EFI stub');
  registerPlugin(container, 'retention', 'retain-all', RetainAllRetention, 'all memory survives the reset');
}
