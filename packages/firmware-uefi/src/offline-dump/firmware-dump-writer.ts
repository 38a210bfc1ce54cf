import {
  formatDuration,
  formatSize,
  intersectRanges,
  mergeRanges,
  ms,
  PAGE_SIZE,
  totalSize,
  EfiMemoryType,
  type FirmwareState,
  type LostRange,
  type MemoryDescriptor,
  type PhysRange,
  type ResetReason,
  type RetentionMapEntry,
  type RunContext,
} from '@efikdump/core';
import { VariableStore } from '../variables/variable-store';
import {
  decodeEncryptionAlgorithm,
  decodeOsData,
  decodeUseCapability,
  OFFLINE_DUMP_ALGORITHM,
  OFFLINE_DUMP_VARIABLE_GUID,
  OFFLINE_DUMP_VARIABLES,
  OfflineDumpCreationError,
  creationErrorNames,
  USE_CAPABILITY_GPT_SCAN,
  type OfflineDumpConfiguration,
} from './offline-dump-config.codec';
import { offlineDumpConfiguration, offlineDumpLayout, type OfflineDumpVariables } from './offline-dump.writer';
import { encodeEnvelopedData, loadRsaCertificate } from './cms-envelope';
import { ENC_DUMP_HEADER_BYTES, keyInfoBlockSize } from './enc-dump.codec';

/**
 * [assumption] The firmware writer's sequential throughput to the dump partition, plain: DXE's
 * BlockIo to an NVMe disk, one synchronous queue, no interrupts. OffCD publishes no figure; this
 * is a guess at the order of magnitude, well below the disk's own speed.
 */
export const FIRMWARE_DUMP_BYTES_PER_SECOND = 400e6;
/** [assumption] The same writer encrypting: AES-128-CTR plus HMAC-SHA-256 on one core in DXE (CryptoPkg), no published figure. */
export const FIRMWARE_DUMP_ENCRYPTED_BYTES_PER_SECOND = 250e6;
/** [assumption] Reading the variables, scanning GPT disks for the dump partition and writing the headers. */
export const FIRMWARE_DUMP_SETUP_US = ms(50);
/** The writer reports progress (OffCD's progress callback) at every quarter of the dump. */
export const FIRMWARE_DUMP_PROGRESS_STEPS = 4;
/**
 * The simulated disk's dump partition: sized for the machine's RAM plus this much for headers and
 * the encrypted container (a deployment sizes it for its RAM).
 */
export const DUMP_PARTITION_SLACK_BYTES = 64 * 1024 * 1024;

/** What the firmware's writer did at one POST: the inputs it found, the dump, and the record the next OS reads. */
export interface FirmwareDumpRecord {
  boot: number;
  abnormalReset: boolean;
  variables: OfflineDumpVariables;
  config: OfflineDumpConfiguration;
  written: boolean;
  encrypted: boolean;
  /** RAM the dump holds (physical, page aligned), in order. */
  saved: PhysRange[];
  /** RAM the writer knows it used itself (its live allocations) and left out, declared lost. */
  declaredLost: LostRange[];
  /** Bytes written to the partition (containers, headers, trailer). */
  bytes: number;
  writeUs: number;
  /** The crashed kernel's pages this reset's retention (POST so far) changed before the writer read RAM. */
  pagesDestroyed: number;
  /** Why nothing (or not all) was written, for the run's reason. */
  why?: string;
  /** The dump partition's size, when the disk has one. */
  partitionBytes?: number;
}

/** The SYSTEM_INFORMATION section the simulated firmware writes. */
export const SYSTEM_INFORMATION = { vendor: 'EFKD', platform: 'q35-sim', architecture: 1 };

/** Bytes of the Enc_Dmp! header and key-info block for a certificate (the CMS blob's length does not depend on the random key). */
function encryptedPrefixBytes(certificate: Uint8Array): number {
  const zeros = (n: number) => new Uint8Array(n);
  const cms = encodeEnvelopedData(zeros(16), certificate, zeros);
  return ENC_DUMP_HEADER_BYTES + keyInfoBlockSize(cms.length);
}

const records = new WeakMap<RunContext, FirmwareDumpRecord>();

/** The firmware writer's record of the run's last POST, if that POST considered a dump. */
export function lastFirmwareDump(ctx: RunContext): FirmwareDumpRecord | undefined {
  return records.get(ctx);
}

/**
 * The firmware → OS record (OffCD's configuration table, version 3) as run metrics: every EFI
 * design's next boot could read it, so every run reports it (power-on: no abnormal reset).
 */
export function publishOfflineDumpRecord(ctx: RunContext, config: OfflineDumpConfiguration): void {
  ctx.metrics.offlineDumpAbnormalReset = config.abnormalResetOccurred;
  ctx.metrics.offlineDumpEnabled = config.enabled;
  ctx.metrics.offlineDumpExpected = config.expected;
  ctx.metrics.offlineDumpCreationErrors = config.creationErrors;
}

function readVariables(fw: FirmwareState): OfflineDumpVariables {
  const store = new VariableStore(fw.nvram, fw.profile);
  const get = (name: string) => store.find(name, OFFLINE_DUMP_VARIABLE_GUID)?.record.data;
  const v: OfflineDumpVariables = {};
  const safe = <T>(f: () => T): T | undefined => {
    try {
      return f();
    } catch {
      return undefined;
    }
  };
  const use = get(OFFLINE_DUMP_VARIABLES.useCapability.name);
  if (use) v.useCapability = safe(() => decodeUseCapability(use));
  const os = get(OFFLINE_DUMP_VARIABLES.osData.name);
  if (os) v.osData = safe(() => decodeOsData(os));
  const alg = get(OFFLINE_DUMP_VARIABLES.encryptionAlgorithm.name);
  // A value of the wrong size is a value the firmware does not support.
  if (alg) v.encryptionAlgorithm = safe(() => decodeEncryptionAlgorithm(alg)) ?? 0xffffffff;
  const cert = get(OFFLINE_DUMP_VARIABLES.encryptionPublicKey.name);
  if (cert) v.encryptionPublicKey = cert;
  return v;
}

/** The firmware's own live allocations at the writer (boot-services code and data in its memory map). */
function firmwareAllocations(map: readonly MemoryDescriptor[]): PhysRange[] {
  const types: number[] = [EfiMemoryType.BootServicesCode, EfiMemoryType.BootServicesData];
  return mergeRanges(map.filter((d) => types.includes(d.type)).map((d) => ({ start: d.start, end: d.start + d.pages * PAGE_SIZE })));
}

/**
 * The firmware's offline crash dump writer, as POST runs it after a reset (DXE, before BDS loads
 * any OS): on an abnormal reset with OfflineMemoryDumpUseCapability set it writes all RAM to the
 * dump partition — RAM as it stands after the firmware's own footprint so far (the retention this
 * reset applied) — and publishes the configuration table for the next OS. The bytes written are
 * those `writeOfflineDump` writes (raw dump, or Enc_Dmp! with the MAC trailer); the simulation
 * keeps what the dump holds as ranges of the machine's memory and charges the writer's time.
 *
 * - Abnormal reset [modelled]: the reset came with ResetData from the OS's panic path (the
 *   firmware keeps the reset reason of its own ResetSystem; a keyboard-controller reset has none).
 * - MOR ClearMemory set (memory scrubbed at this reset): no dump (the secrets are gone, and a
 *   firmware must not write them out first).
 * - What the writer knows it destroyed (`declares`): its own live allocations (boot-services memory
 *   in its memory map) are left out and declared lost; pages POST wrote and freed again before the
 *   writer ran are not known to it, stay in the dump, and differ from what the crashed kernel left —
 *   unless the vendor measured its firmware's footprint (`own-allocations-and-measured`): then the
 *   profile's predicted POST ranges (`FirmwareState.postPrediction`) are left out and declared too.
 */
export function runFirmwareDumpWriter(
  ctx: RunContext,
  fw: FirmwareState,
  reset: ResetReason,
  boot: number,
  entries: readonly RetentionMapEntry[],
  map: readonly MemoryDescriptor[],
  declares: 'own-allocations' | 'own-allocations-and-measured' = 'own-allocations',
): FirmwareDumpRecord {
  // The OS's panic path passed a reason, or the firmware's own watchdog status says it reset a hung machine.
  const abnormalReset = reset.dataHex !== undefined || reset.watchdog === true;
  const variables = readVariables(fw);
  const enabled = ((variables.useCapability ?? 0) & USE_CAPABILITY_GPT_SCAN) !== 0;
  const rec: FirmwareDumpRecord = {
    boot,
    abnormalReset,
    variables,
    config: offlineDumpConfiguration(abnormalReset, variables, undefined),
    written: false,
    encrypted: false,
    saved: [],
    declaredLost: [],
    bytes: 0,
    writeUs: 0,
    pagesDestroyed: 0,
  };
  records.set(ctx, rec);
  const kernelRam = ctx.state.kernel?.systemRam ?? ctx.machine.memory.ram;
  const changed = mergeRanges(entries.flatMap((e) => e.changedRanges.map(([start, end]) => ({ start, end }))));
  rec.pagesDestroyed = totalSize(intersectRanges(changed, kernelRam)) / PAGE_SIZE;
  if (enabled) ctx.metrics.offlineDumpPagesDestroyed = rec.pagesDestroyed;
  const fail = (bits: number, why: string) => {
    rec.config = { ...rec.config, creationErrors: rec.config.creationErrors | bits };
    rec.why = why;
    publishOfflineDumpRecord(ctx, rec.config);
    if (enabled) ctx.log.emit('firmware-post', 'warn', `offline dump: ${why}`);
    return rec;
  };
  if (!enabled) return fail(0, 'OfflineMemoryDumpUseCapability does not ask for a dump');
  if (!abnormalReset) return fail(0, `the reset was a normal one (${reset.reason ?? 'no reset reason'}): no dump expected`);
  if (ctx.state.scrubbed?.boot === boot)
    return fail(
      OfflineDumpCreationError.memoryOverwriteRequested,
      `memory was scrubbed at this reset (${ctx.state.scrubbed.why}): no dump`,
    );
  const algorithm = variables.encryptionAlgorithm ?? OFFLINE_DUMP_ALGORITHM.none;
  if (algorithm !== OFFLINE_DUMP_ALGORITHM.none && algorithm !== OFFLINE_DUMP_ALGORITHM.aes128Ctr) {
    return fail(
      OfflineDumpCreationError.unsupportedAlgorithm,
      `OfflineMemoryDumpEncryptionAlgorithm ${algorithm} is not supported: no dump`,
    );
  }
  const encrypted = algorithm === OFFLINE_DUMP_ALGORITHM.aes128Ctr;
  if (encrypted) {
    try {
      if (!variables.encryptionPublicKey) throw new Error('missing');
      loadRsaCertificate(variables.encryptionPublicKey);
    } catch {
      return fail(
        OfflineDumpCreationError.badCertificate,
        'OfflineMemoryDumpEncryptionPublicKey is missing or not an RSA X.509 certificate: no dump',
      );
    }
  }
  const setup = ctx.scenario.offlineDump;
  if (setup?.partition === 'none')
    return fail(OfflineDumpCreationError.noPartition, 'no GPT partition of the dump type on the disk: no dump');
  const ram = mergeRanges(ctx.machine.memory.ram);
  const known =
    declares === 'own-allocations-and-measured'
      ? mergeRanges([...firmwareAllocations(map), ...(fw.postPrediction ?? [])])
      : firmwareAllocations(map);
  const own = intersectRanges(known, ram);
  const partition = setup?.partition ?? ctx.machine.ramBytes + DUMP_PARTITION_SLACK_BYTES;
  // The same layout writeOfflineDump gives the dump (plan, the firmware's own allocations, system information, one section per RAM range).
  const layout = offlineDumpLayout(
    {
      ddrRanges: ram,
      firmwareAllocations: own,
      prefixBytes: encrypted ? encryptedPrefixBytes(variables.encryptionPublicKey!) : 0,
      systemInformation: SYSTEM_INFORMATION,
      dumpReason: [0, 0, 0, 0],
    },
    partition,
    encrypted,
  );
  if (!layout)
    return fail(
      OfflineDumpCreationError.partitionTooSmall,
      `the dump partition (${formatSize(partition)}) cannot hold even the dump's headers: no dump`,
    );
  rec.partitionBytes = partition;
  rec.saved = layout.written;
  rec.declaredLost = [
    ...layout.ownLeftOut.map((r) => ({ ...r, reason: 'firmware-footprint' as const })),
    ...layout.cut.map((r) => ({ ...r, reason: 'unreadable' as const })),
  ].sort((x, y) => x.start - y.start);
  rec.bytes = layout.partitionBytesUsed;
  if (layout.insufficient) {
    rec.config = { ...rec.config, creationErrors: rec.config.creationErrors | OfflineDumpCreationError.partitionTooSmall };
    rec.why = `the dump partition (${formatSize(partition)}) is smaller than the dump (${formatSize(layout.required)}): what fits was written, flagged INSUFFICIENT_STORAGE`;
    ctx.log.emit('firmware-post', 'warn', `offline dump: ${rec.why}; ${totalSize(layout.cut) / PAGE_SIZE} pages declared lost`);
  }
  const rate = encrypted ? FIRMWARE_DUMP_ENCRYPTED_BYTES_PER_SECOND : FIRMWARE_DUMP_BYTES_PER_SECOND;
  rec.writeUs = FIRMWARE_DUMP_SETUP_US + Math.round((rec.bytes / rate) * 1e6);
  ctx.log.emit(
    'firmware-post',
    'info',
    `offline dump: abnormal reset, writing ${formatSize(totalSize(rec.saved))} of RAM${encrypted ? ' (AES-128-CTR, key wrapped to the certificate)' : ''} to the dump partition; ${rec.pagesDestroyed} pages of the crashed kernel's RAM were already changed by POST`,
  );
  const step = Math.round((rec.writeUs - FIRMWARE_DUMP_SETUP_US) / FIRMWARE_DUMP_PROGRESS_STEPS);
  ctx.clock.advance(FIRMWARE_DUMP_SETUP_US);
  for (let i = 1; i <= FIRMWARE_DUMP_PROGRESS_STEPS; i++) {
    ctx.clock.advance(
      i === FIRMWARE_DUMP_PROGRESS_STEPS ? rec.writeUs - FIRMWARE_DUMP_SETUP_US - step * (FIRMWARE_DUMP_PROGRESS_STEPS - 1) : step,
    );
    ctx.log.emit('firmware-post', 'info', `offline dump progress: ${Math.round((100 * i) / FIRMWARE_DUMP_PROGRESS_STEPS)}%`);
  }
  rec.written = true;
  rec.encrypted = encrypted;
  publishOfflineDumpRecord(ctx, rec.config);
  ctx.metrics.offlineDumpBytes = rec.bytes;
  ctx.metrics.offlineDumpWriteUs = rec.writeUs;
  ctx.metrics.offlineDumpWriterBytesPerSecond = rate;
  ctx.metrics.offlineDumpWriterThroughputAssumed = true;
  ctx.log.emit(
    'firmware-post',
    'info',
    `offline dump written: ${formatSize(rec.bytes)} in ${formatDuration(rec.writeUs)}; ${own.length ? `${totalSize(own) / PAGE_SIZE} pages left out and declared lost (${declares === 'own-allocations' ? "the firmware's own allocations" : "the firmware's own allocations and its measured POST footprint"})` : 'no firmware allocation left out'}`,
  );
  return rec;
}

/** The creation errors of a record, as names for a reason. */
export const creationErrorText = (mask: number): string => (mask ? creationErrorNames(mask).join(', ') : 'none');
