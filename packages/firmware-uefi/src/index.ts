import type { DependencyContainer } from 'tsyringe';
import { ConfigError, DUMP_SEALER, FIRMWARE, FIRMWARE_SERVICES, registerPlugin, type FirmwareServices } from '@efikdump/core';
import { UEFI_FIRMWARE_OPTIONS, UefiFirmware } from './uefi.firmware';
import { RetainAllRetention } from './retention/retain-all.retention';
import { ScrubAllRetention } from './retention/scrub-all.retention';
import { MorRetention } from './retention/mor.retention';
import { FirmwareScratchRetention } from './retention/firmware-scratch.retention';
import { EccReinitRetention } from './retention/ecc-reinit.retention';
import { DecayRetention } from './retention/decay.retention';
import {
  FirmwareWritesDumpExit,
  OffcdVariablesEncryptedTransport,
  OffcdVariablesPlainTransport,
} from './offline-dump/firmware-writes-dump.exit';
import { OFFCD_DUMP_SEALER } from './offline-dump/sealed-file';

export { UefiFirmware, runProfile, UEFI_FIRMWARE_OPTIONS, type UefiFirmwareOptions } from './uefi.firmware';
export { UefiFirmwareServices, UefiVariableServicesImpl, AcpiServicesImpl, firmwareState } from './uefi-services';
export { RetainAllRetention } from './retention/retain-all.retention';
export { ScrubAllRetention } from './retention/scrub-all.retention';
export { MorRetention } from './retention/mor.retention';
export { FirmwareScratchRetention, resolveScratchRanges } from './retention/firmware-scratch.retention';
export { EccReinitRetention } from './retention/ecc-reinit.retention';
export { DecayRetention, MAX_EXACT_FLIPS } from './retention/decay.retention';
export { buildMemoryMap, platformRam, profileMemoryMap } from './memory-map/platform-memory-map';
export {
  describeRetention,
  measuredMemoryMap,
  measuredMoment,
  measuredMomentFile,
  measuredOverwritten,
  type RetentionMoment,
  type RetentionMomentFile,
} from './profiles/measured-retention';
export * from './memory-map/memory-map.codec';
export * from './memory-map/kernel-view';
export * from './variables/well-known';
export * from './variables/variable-store';
export * from './variables/variable-store-fv.codec';
export * from './variables/variable-auth';
export * from './variables/efivarfs';
export * from './reset/reset-data.codec';
export * from './acpi/acpi-tables';
export * from './acpi/erst-store';
export { createFirmwareState, firmwareReport, firmwareVariables, prefillStore } from './firmware-state';
export { loadFirmwareProfile, firmwareProfileNames, PROFILES_DIR, DEFAULT_FIRMWARE_PROFILE } from './profiles/firmware-profiles';
export { writeDirectoryAtomic } from './io/write-directory-atomic';

/**
 * Binds this package's plug-ins: firmware `uefi`; retention `retain-all`, `scrub-all`, `mor`,
 * `firmware-scratch`, `ecc-reinit`, `decay`; exit `firmware-writes-dump` with its transports
 * `offline-dump-variables` and `offline-dump-variables-encrypted`; and FIRMWARE_SERVICES (variables, ACPI, reset
 * reason) for whichever run resolves it, taken from the run's firmware.
 */
export function register(container: DependencyContainer): void {
  registerPlugin(
    container,
    'firmware',
    'uefi',
    UefiFirmware,
    'UEFI platform: profile, variable store, POST, ResetSystem, ACPI, consoles, boot into the EFI stub',
    { options: UEFI_FIRMWARE_OPTIONS },
  );
  registerPlugin(container, 'retention', 'retain-all', RetainAllRetention, 'all memory survives the reset');
  registerPlugin(container, 'retention', 'scrub-all', ScrubAllRetention, 'firmware clears all RAM on every reset');
  registerPlugin(container, 'retention', 'mor', MorRetention, 'all RAM cleared when MemoryOverwriteRequestControl bit 0 is set');
  registerPlugin(
    container,
    'retention',
    'firmware-scratch',
    FirmwareScratchRetention,
    "POST overwrites the profile's working ranges (low memory, heaps, loaded images)",
  );
  registerPlugin(
    container,
    'retention',
    'ecc-reinit',
    EccReinitRetention,
    'all RAM zeroed to initialise ECC (cold, or as the profile says)',
  );
  registerPlugin(container, 'retention', 'decay', DecayRetention, 'seeded DRAM bit flips for the time a cold reset keeps RAM unpowered');
  registerPlugin(
    container,
    'exit',
    'firmware-writes-dump',
    FirmwareWritesDumpExit,
    "warm reset with a reason; the firmware's next POST writes RAM to the GPT dump partition (Offline Crash Dump) and boots normally",
  );
  registerPlugin(
    container,
    'transport',
    'offline-dump-variables',
    OffcdVariablesPlainTransport,
    'the OffCD variables set at boot: dump after an abnormal reset, unencrypted',
  );
  registerPlugin(
    container,
    'transport',
    'offline-dump-variables-encrypted',
    OffcdVariablesEncryptedTransport,
    'the OffCD variables set at boot: AES-128-CTR, key wrapped to the certificate variable',
  );
  container.register(DUMP_SEALER, { useValue: OFFCD_DUMP_SEALER });
  container.register(FIRMWARE_SERVICES, {
    useFactory: (run): FirmwareServices => {
      const firmware = run.resolve(FIRMWARE);
      if (firmware instanceof UefiFirmware) return firmware.services;
      throw new ConfigError('the design\'s firmware offers no UEFI services (FIRMWARE_SERVICES needs firmware "uefi")', {
        field: 'components.firmware',
      });
    },
  });
}
export * from './probe';
export * from './offline-dump';
