import { createCipheriv, createHmac, hkdfSync } from 'node:crypto';
import { FormatError, type ErrorPlace } from '@efikdump/core';

// OffCD OfflineDumpEncryption.h: ENC_DUMP_HEADER (24 bytes), ENC_DUMP_KEY_INFO (16 bytes) followed by
// the IV and the CMS EnvelopedData holding the AES key, padded to 8; then the encrypted raw dump.
export const ENC_DUMP_SIGNATURE = 0x2170_6d44_5f63_6e45n; // "Enc_Dmp!"
export const ENC_DUMP_HEADER_BYTES = 24;
export const ENC_DUMP_KEY_INFO_BYTES = 16;
export const CTR_IV_BYTES = 8;
export const AES_BLOCK_BYTES = 16;

export interface EncDumpHeader {
  headerSize: number;
  keyInfoOffset: number;
  rawDumpOffset: number;
}

export interface EncDumpKeyInfo {
  blockSize: number;
  algorithm: number;
  iv: Uint8Array;
  encryptedKeyCms: Uint8Array;
}

const at = (place: ErrorPlace, off: number): ErrorPlace => ({ ...place, offset: (place.offset ?? 0) + off });

export function encodeEncDumpHeader(h: EncDumpHeader): Uint8Array {
  const out = new Uint8Array(ENC_DUMP_HEADER_BYTES);
  const v = new DataView(out.buffer);
  v.setBigUint64(0, ENC_DUMP_SIGNATURE, true);
  v.setUint32(8, h.headerSize, true);
  v.setUint32(12, h.keyInfoOffset, true);
  v.setUint32(16, h.rawDumpOffset, true);
  return out;
}

export function decodeEncDumpHeader(buf: Uint8Array, place: ErrorPlace = {}): EncDumpHeader {
  if (buf.length < ENC_DUMP_HEADER_BYTES)
    throw new FormatError('ENC_DUMP_HEADER', `${ENC_DUMP_HEADER_BYTES} bytes`, `${buf.length} bytes`, place);
  const v = new DataView(buf.buffer, buf.byteOffset, buf.length);
  if (v.getBigUint64(0, true) !== ENC_DUMP_SIGNATURE)
    throw new FormatError(
      'ENC_DUMP_HEADER Signature',
      '"Enc_Dmp!"',
      JSON.stringify(Buffer.from(buf.subarray(0, 8)).toString('latin1')),
      place,
    );
  const h = { headerSize: v.getUint32(8, true), keyInfoOffset: v.getUint32(12, true), rawDumpOffset: v.getUint32(16, true) };
  if (h.headerSize < ENC_DUMP_HEADER_BYTES)
    throw new FormatError('ENC_DUMP_HEADER HeaderSize', `>= ${ENC_DUMP_HEADER_BYTES}`, `${h.headerSize}`, at(place, 8));
  if (h.keyInfoOffset < h.headerSize)
    throw new FormatError('ENC_DUMP_HEADER KeyInfoOffset', `>= HeaderSize ${h.headerSize}`, `${h.keyInfoOffset}`, at(place, 12));
  if (h.rawDumpOffset < h.keyInfoOffset + ENC_DUMP_KEY_INFO_BYTES)
    throw new FormatError(
      'ENC_DUMP_HEADER RawDumpOffset',
      `>= ${h.keyInfoOffset + ENC_DUMP_KEY_INFO_BYTES}`,
      `${h.rawDumpOffset}`,
      at(place, 16),
    );
  return h;
}

/** BlockSize covers the key info, IV, CMS and padding to a multiple of 8. */
export const keyInfoBlockSize = (cmsBytes: number): number => Math.ceil((ENC_DUMP_KEY_INFO_BYTES + CTR_IV_BYTES + cmsBytes) / 8) * 8;

export function encodeEncDumpKeyInfo(k: EncDumpKeyInfo): Uint8Array {
  if (k.iv.length !== CTR_IV_BYTES) throw new FormatError('ENC_DUMP_KEY_INFO IV', `${CTR_IV_BYTES} bytes`, `${k.iv.length} bytes`);
  const size = keyInfoBlockSize(k.encryptedKeyCms.length);
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  v.setUint32(0, size, true);
  v.setUint32(4, k.algorithm, true);
  v.setUint32(8, CTR_IV_BYTES, true);
  v.setUint32(12, k.encryptedKeyCms.length, true);
  out.set(k.iv, ENC_DUMP_KEY_INFO_BYTES);
  out.set(k.encryptedKeyCms, ENC_DUMP_KEY_INFO_BYTES + CTR_IV_BYTES);
  return out;
}

export function decodeEncDumpKeyInfo(buf: Uint8Array, place: ErrorPlace = {}): EncDumpKeyInfo {
  if (buf.length < ENC_DUMP_KEY_INFO_BYTES)
    throw new FormatError('ENC_DUMP_KEY_INFO', `${ENC_DUMP_KEY_INFO_BYTES} bytes`, `${buf.length} bytes`, place);
  const v = new DataView(buf.buffer, buf.byteOffset, buf.length);
  const blockSize = v.getUint32(0, true);
  const algorithm = v.getUint32(4, true);
  const ivSize = v.getUint32(8, true);
  const cmsSize = v.getUint32(12, true);
  if (blockSize % 8) throw new FormatError('ENC_DUMP_KEY_INFO BlockSize', 'a multiple of 8', `${blockSize}`, place);
  if (ivSize !== CTR_IV_BYTES)
    throw new FormatError('ENC_DUMP_KEY_INFO InitializationVectorSize', `${CTR_IV_BYTES}`, `${ivSize}`, at(place, 8));
  const end = ENC_DUMP_KEY_INFO_BYTES + ivSize + cmsSize;
  if (end > blockSize || blockSize > buf.length)
    throw new FormatError(
      'ENC_DUMP_KEY_INFO extent',
      `IV + CMS (${end} bytes) inside BlockSize inside the buffer (${buf.length})`,
      `BlockSize ${blockSize}`,
      place,
    );
  return {
    blockSize,
    algorithm,
    iv: buf.slice(ENC_DUMP_KEY_INFO_BYTES, ENC_DUMP_KEY_INFO_BYTES + ivSize),
    encryptedKeyCms: buf.slice(ENC_DUMP_KEY_INFO_BYTES + ivSize, end),
  };
}

/**
 * OffCD's AES-CTR: output block N = input block N XOR AES_K(counter block N), the counter block
 * being N as a little-endian u64 followed by the 8-byte IV. Node's aes-128-ctr increments a
 * big-endian 128-bit counter instead, so the keystream is made by AES-ECB over counter blocks.
 * `xorCtr` transforms `data` in place; `rawOffset` is its offset in the raw dump (any byte).
 */
export class OffcdCtr {
  private counters = new Uint8Array(0);
  private words = new Uint32Array(0);

  constructor(
    private readonly key: Uint8Array,
    private readonly iv: Uint8Array,
  ) {
    if (key.length !== 16) throw new FormatError('AES-128 key', '16 bytes', `${key.length} bytes`);
    if (iv.length !== CTR_IV_BYTES) throw new FormatError('AES-CTR IV', `${CTR_IV_BYTES} bytes`, `${iv.length} bytes`);
  }

  xorCtr(data: Uint8Array, rawOffset: number): void {
    if (!Number.isSafeInteger(rawOffset) || rawOffset < 0)
      throw new FormatError('AES-CTR offset', 'a non-negative integer', `${rawOffset}`);
    const skip = rawOffset % AES_BLOCK_BYTES;
    const first = (rawOffset - skip) / AES_BLOCK_BYTES;
    const blocks = Math.ceil((skip + data.length) / AES_BLOCK_BYTES);
    this.ensure(blocks);
    const w = this.words;
    for (let i = 0; i < blocks; i++) {
      const n = first + i;
      w[4 * i] = n >>> 0;
      w[4 * i + 1] = Math.floor(n / 0x1_0000_0000);
    }
    const cipher = createCipheriv('aes-128-ecb', this.key, null);
    cipher.setAutoPadding(false);
    const stream = cipher.update(this.counters.subarray(0, blocks * AES_BLOCK_BYTES));
    cipher.final();
    xorInto(data, stream.subarray(skip, skip + data.length));
  }

  private ensure(blocks: number): void {
    if (this.words.length >= blocks * 4) return;
    this.counters = new Uint8Array(blocks * AES_BLOCK_BYTES);
    this.words = new Uint32Array(this.counters.buffer);
    for (let i = 0; i < blocks; i++) this.counters.set(this.iv, i * AES_BLOCK_BYTES + 8);
  }
}

/** dst[i] ^= src[i] for i < dst.length, four bytes at a time where both are aligned. */
export function xorInto(dst: Uint8Array, src: Uint8Array): void {
  const n = dst.length;
  let i = 0;
  if (dst.byteOffset % 4 === 0 && src.byteOffset % 4 === 0) {
    const words = n >>> 2;
    const d32 = new Uint32Array(dst.buffer, dst.byteOffset, words);
    const s32 = new Uint32Array(src.buffer, src.byteOffset, words);
    for (let j = 0; j < words; j++) d32[j] ^= s32[j];
    i = words * 4;
  }
  for (; i < n; i++) dst[i] ^= src[i];
}

// efikdump's authentication trailer (not in OffCD): right after the ciphertext,
//   u64 Signature "EfkMac01" | u32 Size (48) | u32 Algorithm (1 = HMAC-SHA256) | u8 Mac[32]
// Mac = HMAC-SHA256(K_mac, bytes [ENC_DUMP_HEADER, end of ciphertext)); K_mac = HKDF-SHA256(dump key,
// salt = IV, info = "efikdump offline-dump mac v1", 32 bytes).
export const MAC_TRAILER_SIGNATURE = 0x3130_6361_4d6b_6645n; // "EfkMac01"
export const MAC_TRAILER_BYTES = 48;
export const MAC_ALGORITHM_HMAC_SHA256 = 1;
export const MAC_HKDF_INFO = 'efikdump offline-dump mac v1';

export function deriveMacKey(dumpKey: Uint8Array, iv: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', dumpKey, iv, MAC_HKDF_INFO, 32));
}

export const createDumpMac = (macKey: Uint8Array) => createHmac('sha256', macKey);

export function encodeMacTrailer(mac: Uint8Array): Uint8Array {
  if (mac.length !== 32) throw new FormatError('HMAC-SHA256', '32 bytes', `${mac.length} bytes`);
  const out = new Uint8Array(MAC_TRAILER_BYTES);
  const v = new DataView(out.buffer);
  v.setBigUint64(0, MAC_TRAILER_SIGNATURE, true);
  v.setUint32(8, MAC_TRAILER_BYTES, true);
  v.setUint32(12, MAC_ALGORITHM_HMAC_SHA256, true);
  out.set(mac, 16);
  return out;
}

export function decodeMacTrailer(buf: Uint8Array, place: ErrorPlace = {}): Uint8Array {
  if (buf.length < MAC_TRAILER_BYTES)
    throw new FormatError('efikdump MAC trailer', `${MAC_TRAILER_BYTES} bytes`, `${buf.length} bytes`, place);
  const v = new DataView(buf.buffer, buf.byteOffset, buf.length);
  if (v.getBigUint64(0, true) !== MAC_TRAILER_SIGNATURE)
    throw new FormatError(
      'efikdump MAC trailer signature',
      '"EfkMac01" (the dump is not authenticated, or DumpSize was altered)',
      JSON.stringify(Buffer.from(buf.subarray(0, 8)).toString('latin1')),
      place,
    );
  if (v.getUint32(12, true) !== MAC_ALGORITHM_HMAC_SHA256)
    throw new FormatError('efikdump MAC trailer algorithm', '1 (HMAC-SHA256)', `${v.getUint32(12, true)}`, at(place, 12));
  return buf.slice(16, 48);
}
