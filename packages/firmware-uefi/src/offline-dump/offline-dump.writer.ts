import { closeSync, fstatSync, openSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import {
  AtomicFile,
  FormatError,
  hex,
  intersectRanges,
  IoError,
  mergeRanges,
  MiB,
  PAGE_SIZE,
  pageAlignDown,
  pageAlignUp,
  subtractRanges,
  totalSize,
  type PhysRange,
} from '@efikdump/core';
import { findPartition, partitionExtent, readExactly, readGptImage } from './gpt-image';
import type { GptPartition } from './gpt.codec';
import {
  OFFLINE_DUMP_ALGORITHM,
  OFFLINE_DUMP_CAPABLE,
  OFFLINE_DUMP_CONFIG_VERSION,
  OFFLINE_DUMP_PARTITION_TYPE_GUID,
  OfflineDumpCreationError,
  USE_CAPABILITY_GPT_SCAN,
  type OfflineDumpConfiguration,
} from './offline-dump-config.codec';
import {
  encodeRawDumpHeader,
  encodeRawDumpSection,
  RAW_DUMP_MAJOR,
  RAW_DUMP_MINOR,
  rawDumpHeadersBytes,
  RawDumpFlags,
  SectionFlags,
  SectionType,
  type RawDumpHeader,
  type RawDumpSection,
  type SectionInformation,
} from './raw-dump.codec';
import {
  createDumpMac,
  CTR_IV_BYTES,
  deriveMacKey,
  ENC_DUMP_HEADER_BYTES,
  encodeEncDumpHeader,
  encodeEncDumpKeyInfo,
  encodeMacTrailer,
  keyInfoBlockSize,
  MAC_TRAILER_BYTES,
  OffcdCtr,
} from './enc-dump.codec';
import { encodeEnvelopedData, loadRsaCertificate } from './cms-envelope';

/** What the writer reads RAM through; the simulator's PhysicalMemory fits as it is. */
export interface OfflineDumpMemory {
  /** Copies frame `pfn` into `dst` (one page). */
  readPage(pfn: number, dst: Uint8Array): void;
}

/** The OS → firmware variables as the firmware found them at POST (undefined: not set). */
export interface OfflineDumpVariables {
  useCapability?: number;
  osData?: bigint;
  encryptionAlgorithm?: number;
  /** OfflineMemoryDumpEncryptionPublicKey: an X.509 certificate, DER. */
  encryptionPublicKey?: Uint8Array;
}

export interface OfflineDumpProgress {
  doneBytes: number;
  totalBytes: number;
}

export interface WriteOfflineDumpOptions {
  /** A GPT disk image; it is replaced (temporary copy, renamed) by the image holding the dump. */
  image: string;
  memory: OfflineDumpMemory;
  /** System RAM to save; page aligned. */
  ddrRanges: readonly PhysRange[];
  /** Memory that must never leave the machine in clear: left out of the dump entirely. */
  redact?: readonly PhysRange[];
  /**
   * The writer's own live allocations (its boot-services memory): in the DDR plan, but not
   * written, and listed in the `efikdump-fw-own` section, so a reader declares them lost as the
   * firmware's footprint.
   */
  firmwareAllocations?: readonly PhysRange[];
  variables: OfflineDumpVariables;
  /** Saved verbatim as a CPU_CONTEXT section. */
  cpuContext?: Uint8Array;
  /** DUMP_REASON's four parameters (for example a bugcheck code and its arguments). */
  dumpReason?: [number, number, number, number];
  systemInformation?: { vendor: string; platform: string; architecture: number };
  /** Set RAW_DUMP_HEADER DDR_CACHE_FLUSHED (the platform flushed caches before the reset). */
  ddrCacheFlushed?: boolean;
  onProgress?: (p: OfflineDumpProgress) => void;
  /** Source of the AES key, IVs and CMS content key; tests pass a seeded one. */
  random?: (n: number) => Uint8Array;
}

export interface OfflineDumpResult {
  written: boolean;
  /** OfflineDumpCreationErrors bits. */
  creationErrors: number;
  encrypted: boolean;
  partition?: GptPartition;
  header?: RawDumpHeader;
  sections?: RawDumpSection[];
  /** Bytes of the partition written (containers and trailer included). */
  bytesWritten: number;
  /** Pages left out because the redaction list names them. */
  redactedPages: number;
}

/** Bytes read from RAM per step (256 pages). */
export const OFFLINE_DUMP_CHUNK_BYTES = 1 * MiB;
export const OFFLINE_DUMP_PROGRESS_EVERY_BYTES = 64 * MiB;

/** The configuration table the next boot publishes after `result` (AbnormalResetOccurred as POST saw it). */
export function offlineDumpConfiguration(
  abnormalResetOccurred: boolean,
  variables: OfflineDumpVariables,
  result: OfflineDumpResult | undefined,
): OfflineDumpConfiguration {
  const enabled = ((variables.useCapability ?? 0) & USE_CAPABILITY_GPT_SCAN) !== 0;
  return {
    version: OFFLINE_DUMP_CONFIG_VERSION,
    abnormalResetOccurred,
    capable: OFFLINE_DUMP_CAPABLE.gptScan | OFFLINE_DUMP_CAPABLE.aesCtr,
    enabled,
    expected: abnormalResetOccurred && enabled,
    creationErrors: result?.creationErrors ?? 0,
  };
}

export interface PlannedSection {
  section: RawDumpSection;
  /** For DDR ranges: the physical start; data comes from RAM. */
  ddrBase?: number;
  data?: Uint8Array;
}

const ddrName = (base: number): string => `ddr@${hex(base)}`.slice(0, 20);

/** Name of the SV_SPECIFIC section listing the redacted ranges (u64 start, u64 end, little-endian, per range). */
export const REDACTED_SECTION_NAME = 'efikdump-redacted';
/**
 * Name of the SV_SPECIFIC section listing every DDR range the writer meant to save (same layout),
 * first in the dump so it survives a full partition: a reader learns which pages a cut
 * (INSUFFICIENT_STORAGE) cost, since a cut section's Size only says what was written.
 */
export const DDR_PLAN_SECTION_NAME = 'efikdump-ddr-ranges';
/** Name of the SV_SPECIFIC section listing the firmware's own allocations it left out (same layout): declared lost as its footprint. */
export const FIRMWARE_OWN_SECTION_NAME = 'efikdump-fw-own';

export function encodeRedactedRanges(ranges: readonly PhysRange[]): Uint8Array {
  const out = new Uint8Array(16 * ranges.length);
  const v = new DataView(out.buffer);
  ranges.forEach((r, i) => {
    v.setBigUint64(16 * i, BigInt(r.start), true);
    v.setBigUint64(16 * i + 8, BigInt(r.end), true);
  });
  return out;
}

export function decodeRedactedRanges(buf: Uint8Array): PhysRange[] {
  if (buf.length % 16) throw new FormatError(`section ${REDACTED_SECTION_NAME}`, 'a multiple of 16 bytes', `${buf.length} bytes`);
  const v = new DataView(buf.buffer, buf.byteOffset, buf.length);
  const out: PhysRange[] = [];
  for (let i = 0; i < buf.length; i += 16) out.push({ start: Number(v.getBigUint64(i, true)), end: Number(v.getBigUint64(i + 8, true)) });
  return out;
}

function planSections(
  o: OfflineDumpLayoutInput,
  plan: readonly PhysRange[],
  ddr: readonly PhysRange[],
  redacted: readonly PhysRange[],
  own: readonly PhysRange[],
): { planned: PlannedSection[]; required: number } {
  const entries: { type: number; name: string; size: number; information: SectionInformation; ddrBase?: number; data?: Uint8Array }[] = [];
  if (plan.length) {
    const data = encodeRedactedRanges(plan);
    entries.push({ type: SectionType.svSpecific, name: DDR_PLAN_SECTION_NAME, size: data.length, information: { kind: 'none' }, data });
  }
  if (own.length) {
    const data = encodeRedactedRanges(own);
    entries.push({ type: SectionType.svSpecific, name: FIRMWARE_OWN_SECTION_NAME, size: data.length, information: { kind: 'none' }, data });
  }
  if (redacted.length) {
    const data = encodeRedactedRanges(redacted);
    entries.push({ type: SectionType.svSpecific, name: REDACTED_SECTION_NAME, size: data.length, information: { kind: 'none' }, data });
  }
  if (o.systemInformation)
    entries.push({
      type: SectionType.systemInformation,
      name: 'system-information',
      size: 0,
      information: { kind: 'system-information', ...o.systemInformation },
    });
  if (o.dumpReason)
    entries.push({
      type: SectionType.dumpReason,
      name: 'dump-reason',
      size: 0,
      information: { kind: 'dump-reason', parameters: o.dumpReason },
    });
  if (o.cpuContext)
    entries.push({
      type: SectionType.cpuContext,
      name: 'cpu-context',
      size: o.cpuContext.length,
      information: { kind: 'none' },
      data: o.cpuContext,
    });
  for (const r of ddr)
    entries.push({
      type: SectionType.ddrRange,
      name: ddrName(r.start),
      size: r.end - r.start,
      information: { kind: 'ddr-range', base: r.start },
      ddrBase: r.start,
    });
  let offset = rawDumpHeadersBytes(entries.length);
  const planned = entries.map((e) => {
    // RAM sections start on page boundaries so the extractor copies whole pages.
    if (e.ddrBase !== undefined) offset = pageAlignUp(offset);
    const section: RawDumpSection = {
      flags: SectionFlags.valid,
      major: RAW_DUMP_MAJOR,
      minor: RAW_DUMP_MINOR,
      type: e.type,
      offset,
      size: e.size,
      information: e.information,
      name: e.name,
    };
    offset += e.size;
    return { section, ddrBase: e.ddrBase, data: e.data };
  });
  return { planned, required: offset };
}

/** Cuts the plan to `capacity` bytes: sections that do not fit are shortened (whole pages) or emptied and flagged. */
function fitSections(planned: PlannedSection[], capacity: number): number {
  let end = rawDumpHeadersBytes(planned.length);
  for (const p of planned) {
    const s = p.section;
    if (s.offset + s.size <= capacity) {
      end = Math.max(end, s.offset + s.size);
      continue;
    }
    const room = Math.max(0, capacity - s.offset);
    s.size = p.ddrBase !== undefined ? pageAlignDown(room) : 0;
    s.flags = SectionFlags.insufficientStorage;
    if (s.size === 0) s.offset = Math.min(s.offset, capacity);
    end = Math.max(end, s.offset + s.size);
  }
  return end;
}

const hasFlag = (mask: number, bit: number): boolean => (mask & bit) !== 0;

/** Copies the image outside the dump partition into `file`, leaving the partition to the dump (zero chunks stay holes). */
function copyImageExceptPartition(src: string, file: AtomicFile, skip: { offset: number; sizeBytes: number }): number {
  const fd = openSync(src, 'r');
  try {
    const size = fstatSync(fd).size;
    for (let pos = 0; pos < size;) {
      if (pos >= skip.offset && pos < skip.offset + skip.sizeBytes) {
        pos = skip.offset + skip.sizeBytes;
        continue;
      }
      const limit = pos < skip.offset ? skip.offset : size;
      const n = Math.min(OFFLINE_DUMP_CHUNK_BYTES, limit - pos);
      const chunk = readExactly(fd, src, pos, n);
      if (chunk.some((b) => b !== 0)) file.writeAt(chunk, pos);
      pos += n;
    }
    return size;
  } finally {
    closeSync(fd);
  }
}

/** What the layout of a dump depends on: the RAM to save and leave out, the optional sections, and the encrypted container's prefix. */
export type OfflineDumpLayoutInput = Pick<
  WriteOfflineDumpOptions,
  'ddrRanges' | 'redact' | 'firmwareAllocations' | 'cpuContext' | 'dumpReason' | 'systemInformation'
> & {
  /** Bytes of the Enc_Dmp! header and key-info block before the raw dump (0 for a plain dump). */
  prefixBytes: number;
};

/** Where every section of a dump goes in a partition, and what a too-small partition cuts. */
export interface OfflineDumpLayout {
  planned: PlannedSection[];
  /** TotalDumpSizeRequired: the whole raw dump. */
  required: number;
  /** DumpSize: the raw dump as it fits. */
  dumpSize: number;
  insufficient: boolean;
  /** The DDR ranges written, as they fit (physical, page aligned). */
  written: PhysRange[];
  /** Planned RAM not written: the firmware's own allocations, and what the partition had no room for. */
  ownLeftOut: PhysRange[];
  cut: PhysRange[];
  redactedPages: number;
  /** Bytes the dump takes in the partition: prefix, raw dump, MAC trailer. */
  partitionBytesUsed: number;
}

/**
 * The layout `writeOfflineDump` gives a dump in a partition of `partitionBytes` (undefined when
 * not even the headers fit): the simulated firmware uses it to know, without writing, what its
 * dump holds.
 */
export function offlineDumpLayout(o: OfflineDumpLayoutInput, partitionBytes: number, encrypted: boolean): OfflineDumpLayout | undefined {
  for (const r of [...o.ddrRanges, ...(o.redact ?? []), ...(o.firmwareAllocations ?? [])]) {
    if (r.start % PAGE_SIZE || r.end % PAGE_SIZE || r.end <= r.start)
      throw new FormatError('offline dump range', 'page-aligned [start, end)', `${hex(r.start)}-${hex(r.end)}`, { field: 'ddrRanges' });
  }
  const all = mergeRanges(o.ddrRanges);
  const kept = subtractRanges(all, mergeRanges(o.redact ?? []));
  const redacted = subtractRanges(all, kept);
  const ownLeftOut = intersectRanges(kept, mergeRanges(o.firmwareAllocations ?? []));
  const ddr = subtractRanges(kept, ownLeftOut);
  const redactedPages = totalSize(redacted) / PAGE_SIZE;
  const { planned, required } = planSections(o, kept, ddr, redacted, ownLeftOut);
  const capacity = partitionBytes - o.prefixBytes - (encrypted ? MAC_TRAILER_BYTES : 0);
  if (capacity < rawDumpHeadersBytes(planned.length)) return undefined;
  const insufficient = required > capacity;
  const dumpSize = insufficient ? fitSections(planned, capacity) : required;
  const written = mergeRanges(
    planned
      .filter((p) => p.ddrBase !== undefined && p.section.size > 0)
      .map((p) => ({ start: p.ddrBase!, end: p.ddrBase! + p.section.size })),
  );
  const cut = subtractRanges(ddr, written);
  return {
    planned,
    required,
    dumpSize,
    insufficient,
    written,
    ownLeftOut,
    cut,
    redactedPages,
    partitionBytesUsed: o.prefixBytes + dumpSize + (encrypted ? MAC_TRAILER_BYTES : 0),
  };
}

/**
 * The firmware's offline dump writer (modelled on OffCD's DXE writer): checks the OS's variables,
 * finds the dump partition on the GPT image, and streams RAM (minus the redaction list) into it
 * as a raw dump, or an Enc_Dmp! container with efikdump's MAC trailer when AES-128-CTR is asked
 * for. Nothing is written when the variables say no or are unusable; the creation errors say why.
 *
 * @example
 * const r = await writeOfflineDump({ image: 'disk.img', memory, ddrRanges: memory.ram, variables: { useCapability: 1 } });
 */
export async function writeOfflineDump(o: WriteOfflineDumpOptions): Promise<OfflineDumpResult> {
  const random = o.random ?? ((n: number) => new Uint8Array(randomBytes(n)));
  const v = o.variables;
  const none = (creationErrors: number, partition?: GptPartition): OfflineDumpResult => ({
    written: false,
    creationErrors,
    encrypted: false,
    partition,
    bytesWritten: 0,
    redactedPages: 0,
  });
  if (!hasFlag(v.useCapability ?? 0, USE_CAPABILITY_GPT_SCAN)) return none(OfflineDumpCreationError.notEnabled);
  const algorithm = v.encryptionAlgorithm ?? OFFLINE_DUMP_ALGORITHM.none;
  if (algorithm !== OFFLINE_DUMP_ALGORITHM.none && algorithm !== OFFLINE_DUMP_ALGORITHM.aes128Ctr)
    return none(OfflineDumpCreationError.unsupportedAlgorithm);
  const encrypted = algorithm === OFFLINE_DUMP_ALGORITHM.aes128Ctr;
  if (encrypted) {
    try {
      if (!v.encryptionPublicKey) throw new Error('missing');
      loadRsaCertificate(v.encryptionPublicKey);
    } catch {
      return none(OfflineDumpCreationError.badCertificate);
    }
  }
  let partition: GptPartition | undefined;
  try {
    partition = findPartition(readGptImage(o.image), OFFLINE_DUMP_PARTITION_TYPE_GUID);
  } catch (e) {
    if (!(e instanceof FormatError)) throw e;
  }
  if (!partition) return none(OfflineDumpCreationError.noPartition);
  const extent = partitionExtent(partition);

  const layoutInput = { ...o, prefixBytes: 0 };
  // The encrypted container's prefix: ENC_DUMP_HEADER, ENC_DUMP_KEY_INFO block.
  let prefix = new Uint8Array(0);
  let ctr: OffcdCtr | undefined;
  let macKey: Uint8Array | undefined;
  if (encrypted) {
    const key = random(16);
    const iv = random(CTR_IV_BYTES);
    const cms = encodeEnvelopedData(key, v.encryptionPublicKey!, random);
    const keyInfo = encodeEncDumpKeyInfo({ blockSize: keyInfoBlockSize(cms.length), algorithm, iv, encryptedKeyCms: cms });
    const rawDumpOffset = ENC_DUMP_HEADER_BYTES + keyInfo.length;
    prefix = Buffer.concat([
      encodeEncDumpHeader({ headerSize: ENC_DUMP_HEADER_BYTES, keyInfoOffset: ENC_DUMP_HEADER_BYTES, rawDumpOffset }),
      keyInfo,
    ]);
    ctr = new OffcdCtr(key, iv);
    macKey = deriveMacKey(key, iv);
    layoutInput.prefixBytes = prefix.length;
  }

  const layout = offlineDumpLayout(layoutInput, extent.sizeBytes, encrypted);
  if (!layout) return none(OfflineDumpCreationError.partitionTooSmall, partition);
  const { planned, required, dumpSize, insufficient, redactedPages } = layout;
  let flags = RawDumpFlags.dumpValid;
  if (insufficient) flags |= RawDumpFlags.insufficientStorage;
  if (o.ddrCacheFlushed) flags |= RawDumpFlags.ddrCacheFlushed;
  const header: RawDumpHeader = {
    major: RAW_DUMP_MAJOR,
    minor: RAW_DUMP_MINOR,
    flags,
    osData: v.osData ?? 0n,
    cpuContext: 0n,
    resetTrigger: 0,
    dumpSize,
    totalDumpSizeRequired: required,
    sectionsCount: planned.length,
  };
  const sections = planned.map((p) => p.section);
  const headers = Buffer.concat([encodeRawDumpHeader(header), ...sections.map(encodeRawDumpSection)]);

  const file = new AtomicFile(o.image);
  try {
    const imageSize = copyImageExceptPartition(o.image, file, extent);
    const base = extent.offset + prefix.length;
    const mac = macKey ? createDumpMac(macKey).update(prefix) : undefined;
    if (prefix.length) file.writeAt(prefix, extent.offset);
    let done = 0;
    let reported = 0;
    // Emits raw-dump bytes [rawOffset, rawOffset + data.length) in order; the caller never skips bytes.
    const emit = (data: Uint8Array, rawOffset: number): void => {
      if (ctr && mac) {
        ctr.xorCtr(data, rawOffset);
        mac.update(data);
        file.writeAt(data, base + rawOffset);
      } else if (data.some((b) => b !== 0)) {
        file.writeAt(data, base + rawOffset);
      }
      done = rawOffset + data.length;
      if (o.onProgress && (done - reported >= OFFLINE_DUMP_PROGRESS_EVERY_BYTES || done === dumpSize)) {
        reported = done;
        o.onProgress({ doneBytes: done, totalBytes: dumpSize });
      }
    };
    const chunk = new Uint8Array(OFFLINE_DUMP_CHUNK_BYTES);
    const zeros = (from: number, to: number): void => {
      for (let p = from; p < to;) {
        const n = Math.min(chunk.length, to - p);
        chunk.fill(0, 0, n);
        emit(chunk.subarray(0, n), p);
        p += n;
      }
    };
    emit(Uint8Array.from(headers), 0);
    let cursor = headers.length;
    for (const p of planned) {
      const s = p.section;
      if (s.size === 0) continue;
      zeros(cursor, s.offset);
      if (p.data) emit(Uint8Array.from(p.data.subarray(0, s.size)), s.offset);
      else {
        const firstPfn = p.ddrBase! / PAGE_SIZE;
        const pages = s.size / PAGE_SIZE;
        const perChunk = chunk.length / PAGE_SIZE;
        for (let i = 0; i < pages; i += perChunk) {
          const n = Math.min(perChunk, pages - i);
          for (let j = 0; j < n; j++) o.memory.readPage(firstPfn + i + j, chunk.subarray(j * PAGE_SIZE, (j + 1) * PAGE_SIZE));
          emit(chunk.subarray(0, n * PAGE_SIZE), s.offset + i * PAGE_SIZE);
          if ((i / perChunk) % 64 === 63) await new Promise((resolve) => setImmediate(resolve));
        }
      }
      cursor = s.offset + s.size;
    }
    zeros(cursor, dumpSize);
    let bytesWritten = prefix.length + dumpSize;
    if (mac) {
      file.writeAt(encodeMacTrailer(new Uint8Array(mac.digest())), base + dumpSize);
      bytesWritten += MAC_TRAILER_BYTES;
    }
    file.commit(imageSize);
    const creationErrors = insufficient ? OfflineDumpCreationError.partitionTooSmall : 0;
    return { written: true, creationErrors, encrypted, partition, header, sections, bytesWritten, redactedPages };
  } catch (e) {
    file.abort();
    if (e instanceof IoError) return { ...none(OfflineDumpCreationError.writeFailed, partition) };
    throw e;
  }
}
