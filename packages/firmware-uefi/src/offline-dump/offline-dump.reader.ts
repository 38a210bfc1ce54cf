import { closeSync, fstatSync, openSync } from 'node:fs';
import { timingSafeEqual, type KeyObject } from 'node:crypto';
import { FormatError, IoError, MiB } from '@efikdump/core';
import { findPartition, partitionExtent, readExactly, readGptImage } from './gpt-image';
import type { GptPartition } from './gpt.codec';
import { OFFLINE_DUMP_ALGORITHM, OFFLINE_DUMP_PARTITION_TYPE_GUID } from './offline-dump-config.codec';
import {
  decodeRawDumpHeaders,
  RAW_DUMP_HEADER_BYTES,
  RAW_DUMP_SIGNATURE,
  rawDumpHeadersBytes,
  type RawDumpHeader,
  type RawDumpSection,
} from './raw-dump.codec';
import {
  AES_BLOCK_BYTES,
  createDumpMac,
  decodeEncDumpHeader,
  decodeEncDumpKeyInfo,
  decodeMacTrailer,
  deriveMacKey,
  ENC_DUMP_HEADER_BYTES,
  ENC_DUMP_SIGNATURE,
  MAC_TRAILER_BYTES,
  OffcdCtr,
  type EncDumpKeyInfo,
} from './enc-dump.codec';
import { decodeEnvelopedData } from './cms-envelope';

/** The ciphertext or its headers were changed after the firmware wrote them (the MAC does not match). */
export class DumpAuthenticationError extends FormatError {}

/** A dump that needs a key was opened without one. */
export class DumpKeyRequiredError extends FormatError {}

const READ_CHUNK_BYTES = 1 * MiB;

/**
 * An offline dump on a GPT image, as the OS (or an analyst) reads it: the partition found by type
 * GUID with the GPT CRCs checked, the raw or Enc_Dmp! container recognised, and, for an encrypted
 * dump, the key unwrapped with the private key and the whole container authenticated before any
 * plaintext is handed out.
 */
export class OfflineDumpReader {
  /** The GPT partition the dump was found in; undefined for a bare container file (`sealDumpFile`). */
  readonly partition?: GptPartition;
  readonly encrypted: boolean;
  readonly keyInfo?: EncDumpKeyInfo;
  private readonly fd: number;
  private readonly base: number;
  private readonly partitionBytes: number;
  /** Offset of the raw dump from the partition start. */
  private readonly rawOffset: number;
  private ctr?: OffcdCtr;
  private macKey?: Uint8Array;
  private authenticated = false;
  private parsed?: { header: RawDumpHeader; sections: RawDumpSection[] };

  private constructor(
    readonly path: string,
    extent: { offset: number; sizeBytes: number },
    fd: number,
    partition?: GptPartition,
  ) {
    this.partition = partition;
    this.fd = fd;
    this.base = extent.offset;
    this.partitionBytes = extent.sizeBytes;
    const head = readExactly(fd, path, this.base, Math.min(this.partitionBytes, 8));
    const sig = head.length === 8 ? new DataView(head.buffer).getBigUint64(0, true) : 0n;
    if (sig === ENC_DUMP_SIGNATURE) {
      const enc = decodeEncDumpHeader(readExactly(fd, path, this.base, ENC_DUMP_HEADER_BYTES), { file: path, offset: this.base });
      if (enc.rawDumpOffset > this.partitionBytes)
        throw new FormatError(
          'ENC_DUMP_HEADER RawDumpOffset',
          `inside the partition (${this.partitionBytes} bytes)`,
          `${enc.rawDumpOffset}`,
          { file: path, offset: this.base + 16 },
        );
      const keyInfoBytes = readExactly(fd, path, this.base + enc.keyInfoOffset, enc.rawDumpOffset - enc.keyInfoOffset);
      this.keyInfo = decodeEncDumpKeyInfo(keyInfoBytes, { file: path, offset: this.base + enc.keyInfoOffset });
      if (this.keyInfo.algorithm !== OFFLINE_DUMP_ALGORITHM.aes128Ctr)
        throw new FormatError('ENC_DUMP_KEY_INFO Algorithm', '1 (AES-128-CTR)', `${this.keyInfo.algorithm}`, {
          file: path,
          offset: this.base + enc.keyInfoOffset + 4,
        });
      this.encrypted = true;
      this.rawOffset = enc.rawDumpOffset;
    } else if (sig === RAW_DUMP_SIGNATURE) {
      this.encrypted = false;
      this.rawOffset = 0;
      this.authenticated = true;
    } else {
      throw new FormatError(
        'offline dump partition',
        '"Raw_Dmp!" or "Enc_Dmp!" (no dump written?)',
        JSON.stringify(Buffer.from(head).toString('latin1')),
        { file: path, offset: this.base },
      );
    }
  }

  /**
   * Opens `path`: a GPT disk image (the dump partition found by type, CRCs checked), or a bare
   * container file starting with "Enc_Dmp!" or "Raw_Dmp!" (as `sealDumpFile` writes).
   */
  static open(path: string): OfflineDumpReader {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (e) {
      throw new IoError(`cannot open: ${(e as Error).message}`, { file: path });
    }
    try {
      const size = fstatSync(fd).size;
      const head = size >= 8 ? new DataView(readExactly(fd, path, 0, 8).buffer).getBigUint64(0, true) : 0n;
      if (head === ENC_DUMP_SIGNATURE || head === RAW_DUMP_SIGNATURE)
        return new OfflineDumpReader(path, { offset: 0, sizeBytes: size }, fd);
      const gpt = readGptImage(path);
      const partition = findPartition(gpt, OFFLINE_DUMP_PARTITION_TYPE_GUID);
      if (!partition)
        throw new FormatError(
          'GPT',
          `a partition of type ${OFFLINE_DUMP_PARTITION_TYPE_GUID}`,
          `${gpt.partitions.length} partitions, none of that type`,
          { file: path },
        );
      return new OfflineDumpReader(path, partitionExtent(partition), fd, partition);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  /** Unwraps the dump key with the certificate's private key (WrongKeyError when it is not that key). */
  unlock(privateKey: KeyObject): void {
    if (!this.keyInfo) return;
    const key = decodeEnvelopedData(this.keyInfo.encryptedKeyCms, privateKey, { file: this.path, offset: this.base });
    if (key.length !== 16)
      throw new FormatError('dump key', '16 bytes (AES-128)', `${key.length} bytes`, { file: this.path, offset: this.base });
    this.ctr = new OffcdCtr(key, this.keyInfo.iv);
    this.macKey = deriveMacKey(key, this.keyInfo.iv);
  }

  /** The raw header and sections (decrypted; authenticated first for an encrypted dump). */
  headers(): { header: RawDumpHeader; sections: RawDumpSection[] } {
    if (this.parsed) return this.parsed;
    const place = { file: this.path, offset: this.base + this.rawOffset };
    const first = this.readRawUnchecked(0, RAW_DUMP_HEADER_BYTES);
    const count = new DataView(first.buffer).getUint32(52, true);
    const tableBytes = rawDumpHeadersBytes(count);
    if (this.rawOffset + tableBytes > this.partitionBytes)
      throw new FormatError('RAW_DUMP_HEADER SectionsCount', 'a section table inside the partition', `${count}`, {
        ...place,
        offset: place.offset + 52,
      });
    const parsed = decodeRawDumpHeaders(this.readRawUnchecked(0, tableBytes), place);
    const room = this.partitionBytes - this.rawOffset - (this.encrypted ? MAC_TRAILER_BYTES : 0);
    if (parsed.header.dumpSize > room)
      throw new FormatError('RAW_DUMP_HEADER DumpSize', `at most ${room} (the partition)`, `${parsed.header.dumpSize}`, {
        ...place,
        offset: place.offset + 36,
      });
    this.parsed = parsed;
    this.authenticate();
    return parsed;
  }

  /** Checks the MAC trailer over the whole container; DumpAuthenticationError when anything changed. */
  private authenticate(): void {
    if (this.authenticated) return;
    if (!this.macKey || !this.parsed)
      throw new DumpKeyRequiredError('encrypted dump', 'a private key (--key)', 'none', { file: this.path, offset: this.base });
    const end = this.rawOffset + this.parsed.header.dumpSize;
    const mac = createDumpMac(this.macKey);
    for (let p = 0; p < end; p += READ_CHUNK_BYTES)
      mac.update(readExactly(this.fd, this.path, this.base + p, Math.min(READ_CHUNK_BYTES, end - p)));
    const trailerAt = { file: this.path, offset: this.base + end };
    const stored = decodeMacTrailer(readExactly(this.fd, this.path, this.base + end, MAC_TRAILER_BYTES), trailerAt);
    const computed = mac.digest();
    if (!timingSafeEqual(stored, computed))
      throw new DumpAuthenticationError(
        'offline dump MAC (HMAC-SHA256)',
        'the MAC the firmware wrote',
        'a different MAC: the dump was altered or damaged',
        trailerAt,
      );
    this.authenticated = true;
  }

  /** Raw-dump bytes [offset, offset + length), decrypted; only after `headers()` authenticated the dump. */
  readRaw(offset: number, length: number): Uint8Array {
    if (!this.authenticated)
      throw new DumpAuthenticationError('offline dump', 'an authenticated dump before its contents are read', 'headers() not called', {
        file: this.path,
      });
    return this.readRawUnchecked(offset, length);
  }

  private readRawUnchecked(offset: number, length: number): Uint8Array {
    if (!this.encrypted) return readExactly(this.fd, this.path, this.base + offset, length);
    if (!this.ctr)
      throw new DumpKeyRequiredError('encrypted dump', 'a private key (--key)', 'none', { file: this.path, offset: this.base });
    const start = Math.floor(offset / AES_BLOCK_BYTES) * AES_BLOCK_BYTES;
    const buf = readExactly(this.fd, this.path, this.base + this.rawOffset + start, offset + length - start);
    this.ctr.xorCtr(buf, start);
    return buf.subarray(offset - start);
  }

  close(): void {
    closeSync(this.fd);
  }
}
