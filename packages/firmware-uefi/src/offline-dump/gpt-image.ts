import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { AtomicFile, FormatError, IoError } from '@efikdump/core';
import {
  decodeGptEntries,
  decodeGptHeader,
  encodeGptRegions,
  GPT_ENTRY_BYTES,
  LBA_BYTES,
  planGptLayout,
  type GptLayout,
  type GptPartition,
  type GptPartitionRequest,
} from './gpt.codec';

/** Reads `length` bytes at `position`; short reads are an error naming the file. */
export function readExactly(fd: number, file: string, position: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let done = 0;
  try {
    while (done < length) {
      const n = readSync(fd, out, done, length - done, position + done);
      if (n === 0) break;
      done += n;
    }
  } catch (e) {
    throw new IoError(`read of ${length} bytes failed: ${(e as Error).message}`, { file, offset: position });
  }
  if (done < length)
    throw new FormatError('disk image', `${length} bytes at this offset`, `${done} bytes before the end`, {
      file,
      offset: position + done,
    });
  return out;
}

/** Writes a new GPT disk image (sparse: only the MBR and the GPT structures hold data), under a temporary name renamed at the end. */
export function createGptImage(path: string, sizeBytes: number, partitions: readonly GptPartitionRequest[], seed = 0): GptLayout {
  const layout = planGptLayout(sizeBytes, partitions, seed);
  const file = new AtomicFile(path);
  try {
    for (const { offset, bytes } of encodeGptRegions(layout)) file.writeAt(bytes, offset);
    file.commit(sizeBytes);
  } catch (e) {
    file.abort();
    throw e;
  }
  return layout;
}

export interface GptReadResult {
  sizeBytes: number;
  diskGuid: string;
  partitions: GptPartition[];
  /** Which header was used: the primary, or the backup when the primary failed its checks. */
  source: 'primary' | 'backup';
}

/** Reads and checks the GPT of an image file (primary header and array CRCs; the backup when the primary is bad). */
export function readGptImage(path: string): GptReadResult {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new IoError(`cannot open: ${(e as Error).message}`, { file: path });
  }
  try {
    const sizeBytes = fstatSync(fd).size;
    const read = (lba: number): GptReadResult => {
      const header = decodeGptHeader(readExactly(fd, path, lba * LBA_BYTES, LBA_BYTES), path, lba * LBA_BYTES);
      if (header.myLba !== lba)
        throw new FormatError('GPT MyLBA', `${lba}`, `${header.myLba}`, { file: path, offset: lba * LBA_BYTES + 24 });
      const arrayBytes = header.entryCount * Math.max(header.entryBytes, GPT_ENTRY_BYTES);
      const entries = decodeGptEntries(readExactly(fd, path, header.entriesLba * LBA_BYTES, arrayBytes), header, path);
      return { sizeBytes, diskGuid: header.diskGuid, partitions: entries, source: lba === 1 ? 'primary' : 'backup' };
    };
    try {
      return read(1);
    } catch (primaryError) {
      const last = Math.floor(sizeBytes / LBA_BYTES) - 1;
      if (last <= 1) throw primaryError;
      try {
        return read(last);
      } catch {
        throw primaryError;
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** The first partition of `typeGuid`, or undefined. */
export function findPartition(gpt: GptReadResult, typeGuid: string): GptPartition | undefined {
  return gpt.partitions.find((p) => p.typeGuid === typeGuid.toUpperCase());
}

/** Byte offset and size of a partition. */
export const partitionExtent = (p: GptPartition): { offset: number; sizeBytes: number } => ({
  offset: p.firstLba * LBA_BYTES,
  sizeBytes: (p.lastLba - p.firstLba + 1) * LBA_BYTES,
});
