import type { DependencyContainer } from 'tsyringe';
import { registerPlugin } from '@efikdump/core';
import { LinuxKernel } from './kernel/linux.kernel';
import { EfiColdResetExit, EfiWarmResetExit } from './exit/efi-warm-reset.exit';
import { ClassicKexecExit } from './exit/classic-kexec.exit';
import { FadumpExit } from './exit/fadump.exit';
import { PanicTrigger } from './trigger/panic.trigger';
import { HangTrigger } from './trigger/hang.trigger';
import { ForgedMarkerTrigger, ReplayedMarkerTrigger, StolenKeyMarkerTrigger } from './trigger/crash-marker.trigger';

// crashkernel= parsing and placement, the memblock view, the capture command line and the handoff
// slot are shared Linux boot facts: core holds them; their names stay exported here.
export {
  parseCrashkernelValue,
  parseCrashkernel,
  crashkernelSize,
  placeCrashkernel,
  type CrashkernelSpec,
  type CrashkernelPlacement,
  crashkernelSource,
  kaslrEnabled,
  imagePlacementOf,
  runImagePlacement,
  runEarlyReservations,
  runCrashkernel,
  type ImagePlacement,
  type EarlyReservations,
  INITRD_BYTES,
  KASLR_ALIGN,
  conventionalMemory,
  firmwareRegions,
  bootServicesFootprint,
  placeInitrd,
  imageSlots,
  kaslrImageRange,
  memblockReservedAtCrashkernel,
  earlyReservations,
  freeAfterBoot,
  handoffSlotOf,
  CAPTURE_CMDLINE_EXTRA,
  memmapArgs,
  captureCmdline,
  consoleArgs,
  kexecCaptureRam,
  notesInReservation,
} from '@efikdump/core';
export * from './crashkernel/distro-defaults';
export { buildElfCoreHeader, type ElfCoreHeaderInput } from './elfcorehdr/build-elfcorehdr';
export {
  LinuxKernel,
  encodeUtsname,
  EPOCH_UNIX,
  CAPTURE_IMAGE_BYTES,
  EARLY_ALLOCATION_SPAN_BYTES,
  kernelFreeMemory,
} from './kernel/linux.kernel';
export { EfiWarmResetExit, EfiColdResetExit, EFI_RESET_CALL_US } from './exit/efi-warm-reset.exit';
export { ClassicKexecExit, CRASH_SHUTDOWN_US, PURGATORY_SHA256_BYTES_PER_SECOND } from './exit/classic-kexec.exit';
export { FadumpExit, FADUMP_COPY_BYTES_PER_SECOND, FADUMP_KERNEL_BOOT_US } from './exit/fadump.exit';
export { PanicTrigger } from './trigger/panic.trigger';
export { HangTrigger, WATCHDOG_HEARTBEAT_US } from './trigger/hang.trigger';
export { ForgedMarkerTrigger, StolenKeyMarkerTrigger, ReplayedMarkerTrigger } from './trigger/crash-marker.trigger';
export { segmentsDigest } from './kernel/segments-digest';
export { CRASH_NOTE_BYTES, encodeCrashNoteBuffer } from './kernel/crash-notes';
export { vmcoreinfoEntries, VMCOREINFO_NOTE_BYTES } from './kernel/vmcoreinfo';
export * from './kernel/layout';
export { SimulatedDevices, simulatedDevicesOf, dmaInFlightAtPanic, type DeviceRuntime, type DmaDamage } from './devices/simulated-devices';

/**
 * Binds this package's plug-ins: kernel `linux`; exits `efi-warm-reset`, `efi-cold-reset`, `classic-kexec`, `fadump`;
 * triggers `panic`, `forged-marker`, `stolen-key-marker`, `replayed-marker`.
 */
export function register(container: DependencyContainer): void {
  registerPlugin(container, 'kernel', 'linux', LinuxKernel, 'x86-64 Linux: crashkernel=, crash notes, VMCOREINFO, elfcorehdr, panic');
  registerPlugin(container, 'exit', 'efi-warm-reset', EfiWarmResetExit, 'ResetSystem(EfiResetWarm) from the panic path');
  registerPlugin(container, 'exit', 'efi-cold-reset', EfiColdResetExit, 'ResetSystem(EfiResetCold) from the panic path');
  registerPlugin(
    container,
    'exit',
    'classic-kexec',
    ClassicKexecExit,
    'kexec jump through purgatory (SHA-256 of the segments) into the loaded capture kernel; devices keep running',
  );
  registerPlugin(
    container,
    'exit',
    'fadump',
    FadumpExit,
    'ppc64-style firmware-assisted dump: firmware copies boot memory into the reservation and boots normally',
  );
  registerPlugin(container, 'trigger', 'panic', PanicTrigger, "the 1st kernel panics; the design's exit takes the machine out");
  registerPlugin(
    container,
    'trigger',
    'hang',
    HangTrigger,
    'the 1st kernel hangs without a panic; the hardware watchdog resets the machine after 30 s',
  );
  registerPlugin(
    container,
    'trigger',
    'forged-marker',
    ForgedMarkerTrigger,
    'root writes a crash marker under a made-up key and reboots (no panic)',
  );
  registerPlugin(
    container,
    'trigger',
    'stolen-key-marker',
    StolenKeyMarkerTrigger,
    'root reads the boot secret (unless Secure Boot + lockdown=confidentiality), writes a marker and reboots',
  );
  registerPlugin(
    container,
    'trigger',
    'replayed-marker',
    ReplayedMarkerTrigger,
    "root writes an earlier crash's genuine record back and reboots",
  );
}
