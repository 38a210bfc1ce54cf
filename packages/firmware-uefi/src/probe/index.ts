/** The retention probe: measures real firmware (OVMF under QEMU) across resets; see profiles/measured/README.md. */
export { ProbeError } from './probe-error';
export { QmpClient, QmpCommandError, type QmpEvent, type QmpGreeting, type QmpOptions } from './qmp-client';
export { QemuMachine, qemuArgs, killAllQemu, type QemuMachineConfig, type PostTiming } from './qemu-machine';
export {
  OVMF_DIR,
  OVMF_FILES,
  QEMU_BINARY,
  APT_PACKAGES,
  resolveFirmwareFiles,
  findQemu,
  qemuVersion,
  debianPackageVersions,
  defaultAccelerator,
  type FirmwareFiles,
} from './probe-environment';
export {
  BDS_MARKER,
  IDLE_MARKERS,
  findPostProgress,
  parseShellMemmap,
  stripAnsi,
  SerialLog,
  type PostIdleState,
  type PostProgress,
} from './serial-console';
export {
  PATTERN_MAGIC,
  patternBody,
  writePatternPages,
  diffPatternPages,
  fillRamFile,
  diffRamFile,
  RangeCollector,
  type OverwrittenRange,
  type RamDiff,
} from './ram-pattern';
export { q35BelowFourGBytes, q35RamTop, q35RamRanges, backingRangesToPhysical } from './q35-layout';
export * from './retention-profile';
export {
  runRetentionProbe,
  abortRetentionProbes,
  condenseMemoryMap,
  DEFAULT_SEED,
  PROBE_METHOD,
  PATTERN_LAYOUT,
  type RetentionProbeOptions,
} from './retention-probe';
export {
  buildPlacementReport,
  describePlacement,
  freeRamFor,
  PLACEMENT_VARIANTS,
  type PlaceReservation,
  type PlacementInput,
} from './placement-report';
export {
  deriveRetentionScaling,
  predictOverwritten,
  describeScaling,
  type AnchoredRange,
  type RetentionScaling,
} from './retention-scaling';
