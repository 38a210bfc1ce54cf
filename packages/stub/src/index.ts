import type { DependencyContainer } from 'tsyringe';
import { registerPlugin } from '@efikdump/core';
import { LinuxEfiStub } from './efi-stub';
import { ReservedMemoryMagicDetector } from './detectors/reserved-memory-magic.detector';
import { EfiVariableFlagDetector } from './detectors/efi-variable-flag.detector';
import { BertRecordDetector } from './detectors/bert-record.detector';
import { ResetReasonDetector } from './detectors/reset-reason.detector';
import { AnyOfDetector } from './detectors/any-of.detector';
import { NoDetector } from './detectors/none.detector';
import { TransportDiscoveryDetector } from './detectors/transport-discovery.detector';

export { LinuxEfiStub, CAPTURE_CMDLINE_EXTRA, memmapArgs, rejectionMetric, REJECTION_CATEGORIES } from './efi-stub';
export { ReservedMemoryMagicDetector } from './detectors/reserved-memory-magic.detector';
export { EfiVariableFlagDetector } from './detectors/efi-variable-flag.detector';
export { BertRecordDetector } from './detectors/bert-record.detector';
export { ResetReasonDetector } from './detectors/reset-reason.detector';
export { AnyOfDetector } from './detectors/any-of.detector';
export { NoDetector } from './detectors/none.detector';
export { TransportDiscoveryDetector } from './detectors/transport-discovery.detector';
export { validateHandoff, checkHandoff, MAX_ELFCOREHDR_BYTES } from './validate-handoff';
export { validateCandidate, peekNonce, type CandidateVerdict, type TrustInputs } from './trust/validate-candidate';
export { detectionOf } from './detectors/discovery';
export {
  BOOT_SECRET_VARIABLE,
  BOOT_SECRET_ATTRIBUTES,
  NONCE_HISTORY,
  decodeBootSecret,
  encodeBootSecret,
  freshBootSecret,
  readBootSecret,
  storeBootSecret,
  type BootSecret,
} from './trust/boot-secret';

/**
 * Binds this package's plug-ins: stub `linux-efi-stub`; detectors `transport-discovery`,
 * `reserved-memory-magic`, `efi-variable-flag`, `bert-record`, `reset-reason`, `none`, `any-of`.
 */
export function register(container: DependencyContainer): void {
  registerPlugin(
    container,
    'stub',
    'linux-efi-stub',
    LinuxEfiStub,
    'Linux EFI stub on every boot: boot secret, crashed-boot hook before the e820 map is built, record validation',
  );
  registerPlugin(
    container,
    'detector',
    'transport-discovery',
    TransportDiscoveryDetector,
    "whatever the design's transport finds (its own discover): works with any transport, built-in or from a plug-in package",
  );
  registerPlugin(
    container,
    'detector',
    'reserved-memory-magic',
    ReservedMemoryMagicDetector,
    "a persistent zone or a handoff device tree, by its magic, in the reservation's first page",
  );
  registerPlugin(
    container,
    'detector',
    'efi-variable-flag',
    EfiVariableFlagDetector,
    "efikdump's handoff variables in the EFI variable store",
  );
  registerPlugin(container, 'detector', 'bert-record', BertRecordDetector, "a CPER section of efikdump's type in BERT's boot error region");
  registerPlugin(
    container,
    'detector',
    'reset-reason',
    ResetReasonDetector,
    'ResetData "efikdump: crash <nonce>" kept by the firmware across the warm reset',
  );
  registerPlugin(
    container,
    'detector',
    'none',
    NoDetector,
    'no crashed-boot detection (classic kexec, fadump): every boot through the firmware is normal',
  );
  registerPlugin(container, 'detector', 'any-of', AnyOfDetector, 'every other registered detector, in order; the first valid record wins');
}
