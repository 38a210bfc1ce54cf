import type { DependencyContainer } from 'tsyringe';
import { registerPlugin } from '@efikdump/core';
import { LinuxKernel } from './kernel/linux.kernel';
import { EfiWarmResetExit } from './exit/efi-warm-reset.exit';

export * from './crashkernel/crashkernel';
export { buildElfCoreHeader, type ElfCoreHeaderInput } from './elfcorehdr/build-elfcorehdr';
export { LinuxKernel, handoffSlotOf, encodeUtsname, EPOCH_UNIX, CAPTURE_IMAGE_BYTES } from './kernel/linux.kernel';
export { EfiWarmResetExit } from './exit/efi-warm-reset.exit';
export { CRASH_NOTE_BYTES, encodeCrashNoteBuffer } from './kernel/crash-notes';
export { vmcoreinfoEntries, VMCOREINFO_NOTE_BYTES } from './kernel/vmcoreinfo';
export * from './kernel/layout';

/** Binds this package's plug-ins: kernel `linux`, exit `efi-warm-reset`. */
export function register(container: DependencyContainer): void {
  registerPlugin(container, 'kernel', 'linux', LinuxKernel, 'x86-64 Linux: crashkernel=, crash notes, VMCOREINFO, elfcorehdr, panic');
  registerPlugin(container, 'exit', 'efi-warm-reset', EfiWarmResetExit, 'ResetSystem(EfiResetWarm) from the panic path');
}
