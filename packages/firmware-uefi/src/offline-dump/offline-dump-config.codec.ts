import { FormatError, type ErrorPlace } from '@efikdump/core';

// OffCD (microsoft/OfflineCrashDumpUefi, Include/Guid/OfflineDumpConfig.h): the firmware → OS
// configuration table and the OS → firmware variables, as published.
export const OFFLINE_DUMP_CONFIGURATION_TABLE_GUID = '3804CF02-8538-11E2-8847-8DF16088709B';
export const OFFLINE_DUMP_VARIABLE_GUID = '77fa9abd-0359-4d32-bd60-28f4e78f784b';
export const OFFLINE_DUMP_PARTITION_TYPE_GUID = '66C9B323-F7FC-48B6-BF96-6F32E335A428';

export const OFFLINE_DUMP_CONFIG_V3_BYTES = 24;
export const OFFLINE_DUMP_CONFIG_VERSION = 3;

/** OfflineMemoryDumpCapable flags. */
export const OFFLINE_DUMP_CAPABLE = {
  /** The firmware finds the dump partition by scanning GPT disks. */
  gptScan: 0x01,
  /** The firmware can encrypt with AES-CTR. */
  aesCtr: 0x10,
} as const;

/** NON_VOLATILE | BOOTSERVICE_ACCESS | RUNTIME_ACCESS: the OS sets them at run time, the firmware reads them at POST. */
export const OFFLINE_DUMP_VARIABLE_ATTRIBUTES = 0x7;

/** The OS → firmware variables under OFFLINE_DUMP_VARIABLE_GUID, with their data shapes. */
export const OFFLINE_DUMP_VARIABLES = {
  useCapability: { name: 'OfflineMemoryDumpUseCapability', bytes: 1 },
  osData: { name: 'OfflineMemoryDumpOsData', bytes: 8 },
  encryptionAlgorithm: { name: 'OfflineMemoryDumpEncryptionAlgorithm', bytes: 4 },
  /** An X.509 certificate, DER; any length. */
  encryptionPublicKey: { name: 'OfflineMemoryDumpEncryptionPublicKey', bytes: undefined },
} as const;

/** OfflineMemoryDumpUseCapability bit 0: look for the dump partition on GPT disks. */
export const USE_CAPABILITY_GPT_SCAN = 0x01;

/** OfflineMemoryDumpEncryptionAlgorithm values (OfflineDumpEncryption.h); 2 and 3 are defined but this firmware model writes only 0 and 1. */
export const OFFLINE_DUMP_ALGORITHM = {
  none: 0,
  aes128Ctr: 1,
  aes192Ctr: 2,
  aes256Ctr: 3,
} as const;

/**
 * OfflineDumpCreationErrors as this firmware model sets them: a bitmask of why the last dump was
 * not written, or not written whole. The published header gives the field, not the bit values;
 * these bits are ours.
 */
export const OfflineDumpCreationError = {
  /** No GPT disk, or no partition of the dump type on it. */
  noPartition: 0x0001,
  /** The partition is smaller than the dump; what fits was written, flagged INSUFFICIENT_STORAGE. */
  partitionTooSmall: 0x0002,
  /** OfflineMemoryDumpEncryptionAlgorithm holds a value other than 0 or 1: no dump is written. */
  unsupportedAlgorithm: 0x0004,
  /** The certificate variable is missing, not DER X.509, or not an RSA key: no dump is written. */
  badCertificate: 0x0008,
  /** OfflineMemoryDumpUseCapability does not ask for the GPT scan: no dump is written. */
  notEnabled: 0x0010,
  /** Writing to the disk failed part way. */
  writeFailed: 0x0020,
  /** MOR ClearMemory was set: memory was scrubbed at the reset, and no dump is written (efikdump's bit). */
  memoryOverwriteRequested: 0x0040,
} as const;
export type OfflineDumpCreationErrorName = keyof typeof OfflineDumpCreationError;

/** The names of the bits set in `mask`, for reports. */
export function creationErrorNames(mask: number): OfflineDumpCreationErrorName[] {
  return (Object.keys(OfflineDumpCreationError) as OfflineDumpCreationErrorName[]).filter((k) => mask & OfflineDumpCreationError[k]);
}

export interface OfflineDumpConfiguration {
  version: number;
  abnormalResetOccurred: boolean;
  capable: number;
  enabled: boolean;
  expected: boolean;
  creationErrors: number;
}

export function encodeOfflineDumpConfiguration(c: OfflineDumpConfiguration): Uint8Array {
  const out = new Uint8Array(OFFLINE_DUMP_CONFIG_V3_BYTES);
  const v = new DataView(out.buffer);
  v.setUint32(0, c.version, true);
  v.setUint32(4, c.abnormalResetOccurred ? 1 : 0, true);
  v.setUint32(8, c.capable >>> 0, true);
  v.setUint32(12, c.enabled ? 1 : 0, true);
  v.setUint32(16, c.expected ? 1 : 0, true);
  v.setUint32(20, c.creationErrors >>> 0, true);
  return out;
}

export function decodeOfflineDumpConfiguration(buf: Uint8Array, place: ErrorPlace = {}): OfflineDumpConfiguration {
  if (buf.length < 4) throw new FormatError('offline dump configuration table', 'at least 4 bytes', `${buf.length} bytes`, place);
  const v = new DataView(buf.buffer, buf.byteOffset, buf.length);
  const version = v.getUint32(0, true);
  if (version < OFFLINE_DUMP_CONFIG_VERSION)
    throw new FormatError('offline dump configuration Version', `>= ${OFFLINE_DUMP_CONFIG_VERSION}`, `${version}`, place);
  if (buf.length < OFFLINE_DUMP_CONFIG_V3_BYTES)
    throw new FormatError('offline dump configuration table', `${OFFLINE_DUMP_CONFIG_V3_BYTES} bytes`, `${buf.length} bytes`, place);
  return {
    version,
    abnormalResetOccurred: v.getUint32(4, true) !== 0,
    capable: v.getUint32(8, true),
    enabled: v.getUint32(12, true) !== 0,
    expected: v.getUint32(16, true) !== 0,
    creationErrors: v.getUint32(20, true),
  };
}

/** Variable data encoders/decoders with checked lengths. */
export function encodeUseCapability(flags: number): Uint8Array {
  return Uint8Array.of(flags & 0xff);
}
export function encodeOsData(osData: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt.asUintN(64, osData), true);
  return out;
}
export function encodeEncryptionAlgorithm(algorithm: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, algorithm >>> 0, true);
  return out;
}
function fixed(buf: Uint8Array, bytes: number, name: string): DataView {
  if (buf.length !== bytes) throw new FormatError(`variable ${name}`, `${bytes} bytes`, `${buf.length} bytes`, { field: name });
  return new DataView(buf.buffer, buf.byteOffset, buf.length);
}
export const decodeUseCapability = (buf: Uint8Array): number => fixed(buf, 1, OFFLINE_DUMP_VARIABLES.useCapability.name).getUint8(0);
export const decodeOsData = (buf: Uint8Array): bigint => fixed(buf, 8, OFFLINE_DUMP_VARIABLES.osData.name).getBigUint64(0, true);
export const decodeEncryptionAlgorithm = (buf: Uint8Array): number =>
  fixed(buf, 4, OFFLINE_DUMP_VARIABLES.encryptionAlgorithm.name).getUint32(0, true);
