// Where the x86-64 kernel image is linked and how large the simulated one is: what the EFI stub's
// image placement and `crashkernel=` placement (runImagePlacement, runCrashkernel) need to know of
// it. The rest of the image's layout is the kernel's own (`@efikdump/kernel-crash`, kernel/layout).
import { MiB } from '../units';

/** LOAD_PHYSICAL_ADDR: where the image is linked to run, and where it runs with phys_base 0. */
export const KERNEL_PHYS = 16 * MiB;
export const KERNEL_TEXT_BYTES = 16 * MiB;
export const KERNEL_DATA_BYTES = 16 * MiB;
export const KERNEL_IMAGE_BYTES = KERNEL_TEXT_BYTES + KERNEL_DATA_BYTES;
