/** Kinds of DMA-capable devices a scenario may put in the machine. */
export const DEVICE_KINDS = ['nic', 'nvme', 'gpu', 'hba'] as const;
export type DeviceKind = (typeof DEVICE_KINDS)[number];

/** How the 1st kernel runs the IOMMU (domain reference §8). */
export const IOMMU_MODES = ['off', 'passthrough', 'translated'] as const;
export type IommuMode = (typeof IOMMU_MODES)[number];

/**
 * What a capture kernel entered without a platform reset does with the IOMMU it finds enabled:
 * turn translation off (DMA addresses are then used as physical addresses) or copy the old root
 * and context tables and keep the old mappings until each driver re-initialises its device (the
 * Intel VT-d fix merged for Linux 4.2, domain reference §8).
 */
export const CAPTURE_IOMMU_CHOICES = ['disable-translation', 'copy-tables'] as const;
export type CaptureIommuChoice = (typeof CAPTURE_IOMMU_CHOICES)[number];

/** One DMA-capable device of a scenario's machine. */
export interface DeviceSpec {
  name: string;
  kind: DeviceKind;
  /** Probability that the device has DMA in flight when the kernel panics. */
  inflightRate: number;
  /** Pages of DMA buffers (descriptor rings, receive buffers, queues) its driver gave it. */
  bufferPages: number;
  /** Pages it writes per second while it runs. */
  dmaPagesPerSecond: number;
  /** IOVA space its mappings are spread over, allocated top-down below the 4 GiB DMA limit (translated IOMMU only). */
  iovaSpanBytes: number;
  /** Whether a platform warm reset resets it (always-on or BMC-owned devices are not; a cold reset resets all). */
  warmReset: boolean;
  /** Whether the capture kernel has a driver for it (in the kdump initramfs), which resets it at probe. */
  captureDriver: boolean;
  /** Probability that that reset at probe fails and the device keeps running. */
  probeResetFailRate: number;
}
