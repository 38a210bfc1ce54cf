import { crc32 } from 'node:zlib';
import { FormatError, type ErrorPlace } from '@efikdump/core';
import { decodeGuid, encodeGuid, seededGuid } from './guid';

// UEFI 2.10 §5.3 (GUID Partition Table): LBA 0 protective MBR, LBA 1 header, LBA 2.. entry array,
// the backup array and header at the end of the disk.
export const LBA_BYTES = 512;
export const GPT_SIGNATURE = 'EFI PART';
export const GPT_REVISION = 0x0001_0000;
export const GPT_HEADER_BYTES = 92;
export const GPT_ENTRY_BYTES = 128;
export const GPT_ENTRY_COUNT = 128;
/** 128 entries × 128 bytes = 32 LBAs. */
export const GPT_ARRAY_LBAS = (GPT_ENTRY_COUNT * GPT_ENTRY_BYTES) / LBA_BYTES;
/** Partitions start on 1 MiB boundaries, as sgdisk and fdisk align them. */
export const GPT_ALIGN_LBAS = 2048;
export const MBR_TYPE_PROTECTIVE = 0xee;
export const PARTITION_NAME_CHARS = 36;

/** The EFI System Partition's type GUID (UEFI 2.10 §5.3.3). */
export const ESP_TYPE_GUID = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B';

export interface GptPartition {
  typeGuid: string;
  uniqueGuid: string;
  firstLba: number;
  /** Inclusive, as the entry stores it. */
  lastLba: number;
  attributes: bigint;
  name: string;
  /** Index in the entry array. */
  index: number;
}

export interface GptHeader {
  myLba: number;
  alternateLba: number;
  firstUsableLba: number;
  lastUsableLba: number;
  diskGuid: string;
  entriesLba: number;
  entryCount: number;
  entryBytes: number;
  entriesCrc32: number;
}

export interface GptDisk {
  sizeBytes: number;
  diskGuid: string;
  partitions: GptPartition[];
}

const place = (file: string | undefined, offset: number): ErrorPlace => ({ file, offset });

export function encodeProtectiveMbr(totalLbas: number): Uint8Array {
  const out = new Uint8Array(LBA_BYTES);
  const v = new DataView(out.buffer);
  const e = 446;
  out[e] = 0x00;
  out.set([0x00, 0x02, 0x00], e + 1);
  out[e + 4] = MBR_TYPE_PROTECTIVE;
  out.set([0xff, 0xff, 0xff], e + 5);
  v.setUint32(e + 8, 1, true);
  v.setUint32(e + 12, Math.min(totalLbas - 1, 0xffff_ffff), true);
  out[510] = 0x55;
  out[511] = 0xaa;
  return out;
}

export function encodeGptEntry(p: Omit<GptPartition, 'index'>): Uint8Array {
  const out = new Uint8Array(GPT_ENTRY_BYTES);
  const v = new DataView(out.buffer);
  out.set(encodeGuid(p.typeGuid), 0);
  out.set(encodeGuid(p.uniqueGuid), 16);
  v.setBigUint64(32, BigInt(p.firstLba), true);
  v.setBigUint64(40, BigInt(p.lastLba), true);
  v.setBigUint64(48, p.attributes, true);
  if (p.name.length > PARTITION_NAME_CHARS)
    throw new FormatError('GPT partition name', `at most ${PARTITION_NAME_CHARS} UTF-16 units`, `${p.name.length}`);
  for (let i = 0; i < p.name.length; i++) v.setUint16(56 + 2 * i, p.name.charCodeAt(i), true);
  return out;
}

export function encodeGptEntries(partitions: readonly Omit<GptPartition, 'index'>[]): Uint8Array {
  if (partitions.length > GPT_ENTRY_COUNT) throw new FormatError('GPT', `at most ${GPT_ENTRY_COUNT} partitions`, `${partitions.length}`);
  const out = new Uint8Array(GPT_ENTRY_COUNT * GPT_ENTRY_BYTES);
  partitions.forEach((p, i) => out.set(encodeGptEntry(p), i * GPT_ENTRY_BYTES));
  return out;
}

/** One LBA holding the 92-byte header, its CRC32 computed with the CRC field zero. */
export function encodeGptHeader(h: Omit<GptHeader, 'entryCount' | 'entryBytes'>): Uint8Array {
  const out = new Uint8Array(LBA_BYTES);
  const v = new DataView(out.buffer);
  out.set(Buffer.from(GPT_SIGNATURE, 'ascii'), 0);
  v.setUint32(8, GPT_REVISION, true);
  v.setUint32(12, GPT_HEADER_BYTES, true);
  v.setBigUint64(24, BigInt(h.myLba), true);
  v.setBigUint64(32, BigInt(h.alternateLba), true);
  v.setBigUint64(40, BigInt(h.firstUsableLba), true);
  v.setBigUint64(48, BigInt(h.lastUsableLba), true);
  out.set(encodeGuid(h.diskGuid), 56);
  v.setBigUint64(72, BigInt(h.entriesLba), true);
  v.setUint32(80, GPT_ENTRY_COUNT, true);
  v.setUint32(84, GPT_ENTRY_BYTES, true);
  v.setUint32(88, h.entriesCrc32, true);
  v.setUint32(16, crc32(out.subarray(0, GPT_HEADER_BYTES)), true);
  return out;
}

const u64 = (v: DataView, off: number, what: string, p: ErrorPlace): number => {
  const x = v.getBigUint64(off, true);
  if (x > BigInt(Number.MAX_SAFE_INTEGER)) throw new FormatError(what, 'a value below 2^53', `0x${x.toString(16)}`, p);
  return Number(x);
};

/** Decodes and checks a GPT header LBA (signature, size, CRC32); `file`/`base` place errors. */
export function decodeGptHeader(buf: Uint8Array, file?: string, base = LBA_BYTES): GptHeader {
  if (buf.length < GPT_HEADER_BYTES)
    throw new FormatError('GPT header', `${GPT_HEADER_BYTES} bytes`, `${buf.length} bytes`, place(file, base));
  const sig = Buffer.from(buf.subarray(0, 8)).toString('latin1');
  if (sig !== GPT_SIGNATURE)
    throw new FormatError('GPT header signature', JSON.stringify(GPT_SIGNATURE), JSON.stringify(sig), place(file, base));
  const v = new DataView(buf.buffer, buf.byteOffset, buf.length);
  const size = v.getUint32(12, true);
  if (size < GPT_HEADER_BYTES || size > Math.min(LBA_BYTES, buf.length))
    throw new FormatError('GPT HeaderSize', `${GPT_HEADER_BYTES}..${LBA_BYTES}`, `${size}`, place(file, base + 12));
  const stored = v.getUint32(16, true);
  const copy = Uint8Array.from(buf.subarray(0, size));
  copy.fill(0, 16, 20);
  const computed = crc32(copy);
  if (computed !== stored)
    throw new FormatError('GPT HeaderCRC32', `0x${computed.toString(16)}`, `0x${stored.toString(16)}`, place(file, base + 16));
  const entryCount = v.getUint32(80, true);
  const entryBytes = v.getUint32(84, true);
  if (entryBytes < 128 || entryBytes % 8)
    throw new FormatError('GPT SizeOfPartitionEntry', 'a multiple of 8, at least 128', `${entryBytes}`, place(file, base + 84));
  if (entryCount > 4096) throw new FormatError('GPT NumberOfPartitionEntries', 'at most 4096', `${entryCount}`, place(file, base + 80));
  const p = place(file, base);
  return {
    myLba: u64(v, 24, 'GPT MyLBA', p),
    alternateLba: u64(v, 32, 'GPT AlternateLBA', p),
    firstUsableLba: u64(v, 40, 'GPT FirstUsableLBA', p),
    lastUsableLba: u64(v, 48, 'GPT LastUsableLBA', p),
    diskGuid: decodeGuid(buf, 56),
    entriesLba: u64(v, 72, 'GPT PartitionEntryLBA', p),
    entryCount,
    entryBytes,
    entriesCrc32: v.getUint32(88, true),
  };
}

/** Decodes the entry array (checking its CRC32 against the header); unused (all-zero type) entries are skipped. */
export function decodeGptEntries(buf: Uint8Array, header: GptHeader, file?: string): GptPartition[] {
  const base = header.entriesLba * LBA_BYTES;
  const bytes = header.entryCount * header.entryBytes;
  if (buf.length < bytes) throw new FormatError('GPT partition entry array', `${bytes} bytes`, `${buf.length} bytes`, place(file, base));
  const computed = crc32(buf.subarray(0, bytes));
  if (computed !== header.entriesCrc32)
    throw new FormatError(
      'GPT PartitionEntryArrayCRC32',
      `0x${header.entriesCrc32.toString(16)}`,
      `0x${computed.toString(16)}`,
      place(file, base),
    );
  const v = new DataView(buf.buffer, buf.byteOffset, buf.length);
  const out: GptPartition[] = [];
  for (let i = 0; i < header.entryCount; i++) {
    const off = i * header.entryBytes;
    if (buf.subarray(off, off + 16).every((b) => b === 0)) continue;
    const p = place(file, base + off);
    let name = '';
    for (let c = 0; c < PARTITION_NAME_CHARS; c++) {
      const ch = v.getUint16(off + 56 + 2 * c, true);
      if (ch === 0) break;
      name += String.fromCharCode(ch);
    }
    const entry: GptPartition = {
      typeGuid: decodeGuid(buf, off),
      uniqueGuid: decodeGuid(buf, off + 16),
      firstLba: u64(v, off + 32, 'GPT StartingLBA', p),
      lastLba: u64(v, off + 40, 'GPT EndingLBA', p),
      attributes: v.getBigUint64(off + 48, true),
      name,
      index: i,
    };
    if (entry.lastLba < entry.firstLba || entry.firstLba < header.firstUsableLba || entry.lastLba > header.lastUsableLba) {
      throw new FormatError(
        `GPT entry ${i} LBAs`,
        `${header.firstUsableLba} <= first <= last <= ${header.lastUsableLba}`,
        `${entry.firstLba}..${entry.lastLba}`,
        p,
      );
    }
    out.push(entry);
  }
  return out;
}

export interface GptPartitionRequest {
  typeGuid: string;
  name: string;
  sizeBytes: number;
}

export interface GptLayout {
  sizeBytes: number;
  diskGuid: string;
  partitions: Omit<GptPartition, 'index'>[];
}

/** Places partitions one after the other on 1 MiB boundaries; GUIDs come from `seed` (same seed, same disk). */
export function planGptLayout(sizeBytes: number, requests: readonly GptPartitionRequest[], seed = 0): GptLayout {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes % LBA_BYTES)
    throw new FormatError('disk size', `a multiple of ${LBA_BYTES}`, `${sizeBytes}`);
  const totalLbas = sizeBytes / LBA_BYTES;
  const lastUsable = totalLbas - 2 - GPT_ARRAY_LBAS;
  let next = GPT_ALIGN_LBAS;
  const partitions = requests.map((r, i) => {
    const lbas = Math.ceil(r.sizeBytes / LBA_BYTES);
    const firstLba = next;
    const lastLba = firstLba + lbas - 1;
    if (lbas <= 0 || lastLba > lastUsable)
      throw new FormatError(
        `partition ${JSON.stringify(r.name)}`,
        `1..${(lastUsable - firstLba + 1) * LBA_BYTES} bytes`,
        `${r.sizeBytes} bytes`,
      );
    next = Math.ceil((lastLba + 1) / GPT_ALIGN_LBAS) * GPT_ALIGN_LBAS;
    return { typeGuid: r.typeGuid, uniqueGuid: seededGuid(seed, `part${i}`), firstLba, lastLba, attributes: 0n, name: r.name };
  });
  return { sizeBytes, diskGuid: seededGuid(seed, 'disk'), partitions };
}

/** The byte runs a GPT disk holds outside its partitions: MBR, primary header + array, backup array + header. */
export function encodeGptRegions(layout: GptLayout): { offset: number; bytes: Uint8Array }[] {
  const totalLbas = layout.sizeBytes / LBA_BYTES;
  const lastLba = totalLbas - 1;
  const entries = encodeGptEntries(layout.partitions);
  const entriesCrc32 = crc32(entries);
  const common = {
    firstUsableLba: 2 + GPT_ARRAY_LBAS,
    lastUsableLba: lastLba - 1 - GPT_ARRAY_LBAS,
    diskGuid: layout.diskGuid,
    entriesCrc32,
  };
  const primary = encodeGptHeader({ ...common, myLba: 1, alternateLba: lastLba, entriesLba: 2 });
  const backupArrayLba = lastLba - GPT_ARRAY_LBAS;
  const backup = encodeGptHeader({ ...common, myLba: lastLba, alternateLba: 1, entriesLba: backupArrayLba });
  return [
    { offset: 0, bytes: encodeProtectiveMbr(totalLbas) },
    { offset: LBA_BYTES, bytes: primary },
    { offset: 2 * LBA_BYTES, bytes: entries },
    { offset: backupArrayLba * LBA_BYTES, bytes: entries },
    { offset: lastLba * LBA_BYTES, bytes: backup },
  ];
}
