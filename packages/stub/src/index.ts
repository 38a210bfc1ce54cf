import type { DependencyContainer } from 'tsyringe';
import { registerPlugin } from '@efikdump/core';
import { LinuxEfiStub } from './efi-stub';
import { ReservedMemoryMagicDetector } from './detectors/reserved-memory-magic.detector';

export { LinuxEfiStub, CAPTURE_CMDLINE_EXTRA, memmapArgs } from './efi-stub';
export { ReservedMemoryMagicDetector } from './detectors/reserved-memory-magic.detector';
export { validateHandoff, MAX_ELFCOREHDR_BYTES } from './validate-handoff';

/** Binds this package's plug-ins: stub `linux-efi-stub`, detector `reserved-memory-magic`. */
export function register(container: DependencyContainer): void {
  registerPlugin(container, 'stub', 'linux-efi-stub', LinuxEfiStub, 'Linux EFI stub with the crashed-boot hook before the e820 map is built');
  registerPlugin(container, 'detector', 'reserved-memory-magic', ReservedMemoryMagicDetector, 'a valid record marked crashed in the reservation\'s first page');
}
