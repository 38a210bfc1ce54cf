/**
 * The configuration documents, one module each — design, scenario, firmware profile, run options —
 * the options a design gives its components, and the JSON reading they share. This index is the
 * package's public face of them (`@efikdump/core` re-exports it); `Reader` and the other helpers
 * of json.ts stay internal.
 */
export { readJsonFile, parseJsonText } from './json';
export * from './component-options';
export * from './design';
export * from './scenario';
export {
  FIRMWARE_FAULTS,
  FIRMWARE_PROFILE_FIELDS,
  EFI_MEMORY_TYPE_NAMES_FOR_SCRATCH,
  parseFirmwareProfile,
  applyFirmwareOverrides,
  type ScratchRangeSpec,
  type PlatformRetentionSpec,
  type FirmwareFault,
  type FirmwareProfileFields,
  type FirmwareProfile,
  type FirmwareOverrides,
} from './firmware-profile';
export * from './run-options';
