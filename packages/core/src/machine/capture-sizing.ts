import { MiB } from '../units';
import type { DeviceKind } from './device-specs';

/** One part of what a capture kernel needs, with where its figure comes from. */
export interface CaptureNeedPart {
  label: string;
  bytes: number;
  source: string;
}

/**
 * Memory a driver of each kind costs a kdump kernel (module, firmware, rings sized for one CPU).
 * [modelled] from domain reference §9.1: kdump-utils adds 150–200 MiB on arm64 for mlx5 NICs; a
 * plain NIC, an NVMe or an HBA driver cost a few MiB; a DRM driver with its firmware tens of MiB.
 */
export const CAPTURE_DRIVER_BYTES: Readonly<Record<DeviceKind, number>> = {
  nic: 12 * MiB,
  nvme: 6 * MiB,
  gpu: 32 * MiB,
  hba: 16 * MiB,
};

/** The capture kernel image and kdump initramfs the kdump service loads (kdump-utils builds a trimmed initramfs). */
export const CAPTURE_IMAGE_AND_INITRAMFS_BYTES = 48 * MiB;

/**
 * What a kdump kernel needs to boot and save the dump, as a function of the crashed machine's RAM,
 * its CPUs and the drivers the kdump initramfs loads. The figures are modelled so that the
 * distributions' defaults (domain reference §9.1, `packages/kernel-crash/data/crashkernel-defaults.json`)
 * leave room: x86_64 kdump-utils reserves 192–256 MiB for 1–64 GiB and 512 MiB above, and an NFS
 * dump was measured to need 110–168 MiB (Kairui Song 2020, §9.1).
 *
 * - the image and initramfs (48 MiB);
 * - kernel early allocations, slab, page tables and the rest of a running kernel: 40 MiB [modelled];
 * - user space while saving (systemd in the initramfs, makedumpfile's process): 24 MiB [modelled];
 * - per-CPU areas: the capture command line says `nr_cpus=1`, 1 MiB per CPU it brings up (§9.1: ppc64le +1 MiB/CPU);
 * - makedumpfile's two page bitmaps, one bit per 4 KiB page of old memory each, held in cyclic
 *   mode to at most 64 MiB (makedumpfile `--cyclic-buffer`) [modelled];
 * - `struct page` for the capture kernel's own RAM: 64 bytes per 4 KiB page (1/64);
 * - each driver (CAPTURE_DRIVER_BYTES).
 */
export function captureMemoryNeeded(input: {
  oldRamBytes: number;
  captureRamBytes: number;
  captureCpus?: number;
  drivers: readonly DeviceKind[];
}): { bytes: number; parts: CaptureNeedPart[] } {
  const cpus = input.captureCpus ?? 1;
  const bitmaps = Math.min(64 * MiB, Math.ceil(input.oldRamBytes / 4096 / 8) * 2);
  const parts: CaptureNeedPart[] = [
    {
      label: 'capture kernel image and kdump initramfs',
      bytes: CAPTURE_IMAGE_AND_INITRAMFS_BYTES,
      source: 'kdump-utils trimmed initramfs [modelled]',
    },
    { label: 'kernel early allocations, slab and page tables', bytes: 40 * MiB, source: '[modelled]' },
    { label: 'user space while saving (init, makedumpfile)', bytes: 24 * MiB, source: '[modelled]' },
    { label: `per-CPU areas (${cpus} CPU${cpus === 1 ? '' : 's'}, nr_cpus=1)`, bytes: cpus * MiB, source: 'domain reference §1.4, §9.1' },
    { label: "makedumpfile's page bitmaps (cyclic, at most 64 MiB)", bytes: bitmaps, source: 'makedumpfile --cyclic-buffer [modelled]' },
    {
      label: 'struct page for the capture RAM',
      bytes: Math.ceil(input.captureRamBytes / 64),
      source: '64-byte struct page per 4 KiB page',
    },
    ...[...input.drivers]
      .sort()
      .map((kind) => ({ label: `${kind} driver`, bytes: CAPTURE_DRIVER_BYTES[kind], source: 'domain reference §9.1 [modelled]' })),
  ];
  return { bytes: parts.reduce((s, p) => s + p.bytes, 0), parts };
}
