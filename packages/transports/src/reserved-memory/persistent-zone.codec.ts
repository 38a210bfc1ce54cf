import { crc32 } from 'node:zlib';
import { FormatError, hex, PAGE_SIZE } from '@efikdump/core';
import { rsDecode, rsEncode } from './reed-solomon';

/*
 * A ramoops-like persistent zone in one page (Linux fs/pstore/ram_core.c is the model: a signed
 * header, the data, and Reed–Solomon parity of 16 bytes per 128-byte block, poly 0x11d):
 *    0 u32 signature 0x43474244 ("DBGC") XOR 0x4b444645 ("EFDK")
 *    4 u32 version (1)
 *    8 u32 data length in bytes
 *   12 u32 CRC-32 of the data
 *   16 u8[16] parity of bytes 0..15
 *   32 data, in 128-byte blocks (the last one zero-padded)
 *    … u8[16] parity per data block
 */
export const ZONE_SIGNATURE = (0x43474244 ^ 0x4b444645) >>> 0;
export const ZONE_VERSION = 1;
export const ZONE_HEADER_BYTES = 16;
export const ZONE_BLOCK_BYTES = 128;
export const ZONE_PARITY_BYTES = 16;
export const ZONE_DATA_OFFSET = ZONE_HEADER_BYTES + ZONE_PARITY_BYTES;
export const ZONE_MAX_BLOCKS = Math.floor((PAGE_SIZE - ZONE_DATA_OFFSET) / (ZONE_BLOCK_BYTES + ZONE_PARITY_BYTES));
export const ZONE_MAX_DATA_BYTES = ZONE_MAX_BLOCKS * ZONE_BLOCK_BYTES;

const blocksFor = (n: number) => Math.ceil(n / ZONE_BLOCK_BYTES);

/** A page holding `data` with its header, CRC and parity. */
export function encodeZone(data: Uint8Array): Uint8Array {
  if (data.length === 0 || data.length > ZONE_MAX_DATA_BYTES) {
    throw new FormatError('persistent zone data', `1 to ${ZONE_MAX_DATA_BYTES} bytes`, `${data.length} bytes`);
  }
  const page = new Uint8Array(PAGE_SIZE);
  const v = new DataView(page.buffer);
  v.setUint32(0, ZONE_SIGNATURE, true);
  v.setUint32(4, ZONE_VERSION, true);
  v.setUint32(8, data.length, true);
  v.setUint32(12, crc32(data), true);
  page.set(rsEncode(page.subarray(0, ZONE_HEADER_BYTES), ZONE_PARITY_BYTES), ZONE_HEADER_BYTES);
  const blocks = blocksFor(data.length);
  const parityAt = ZONE_DATA_OFFSET + blocks * ZONE_BLOCK_BYTES;
  page.set(data, ZONE_DATA_OFFSET);
  for (let b = 0; b < blocks; b++) {
    const block = page.subarray(ZONE_DATA_OFFSET + b * ZONE_BLOCK_BYTES, ZONE_DATA_OFFSET + (b + 1) * ZONE_BLOCK_BYTES);
    page.set(rsEncode(block, ZONE_PARITY_BYTES), parityAt + b * ZONE_PARITY_BYTES);
  }
  return page;
}

/**
 * Reads a zone, correcting what the parity can. Throws FormatError naming the offset when the
 * signature is absent, a block has more damage than its parity corrects, or the CRC disagrees.
 */
export function decodeZone(page: Uint8Array, source: string, base = 0): { data: Uint8Array; correctedBytes: number } {
  const at = (off: number) => ({ file: source, offset: base + off });
  if (page.length < PAGE_SIZE) throw new FormatError('persistent zone', `${PAGE_SIZE} bytes`, `${page.length}`, at(0));
  const work = new Uint8Array(page.subarray(0, PAGE_SIZE));
  let corrected = rsDecode(work.subarray(0, ZONE_HEADER_BYTES), work.subarray(ZONE_HEADER_BYTES, ZONE_DATA_OFFSET));
  const v = new DataView(work.buffer);
  if (corrected < 0 || v.getUint32(0, true) !== ZONE_SIGNATURE) {
    throw new FormatError('persistent zone signature', hex(ZONE_SIGNATURE), hex(v.getUint32(0, true)), at(0));
  }
  if (v.getUint32(4, true) !== ZONE_VERSION)
    throw new FormatError('persistent zone version', String(ZONE_VERSION), String(v.getUint32(4, true)), at(4));
  const length = v.getUint32(8, true);
  if (length === 0 || length > ZONE_MAX_DATA_BYTES)
    throw new FormatError('persistent zone data length', `1 to ${ZONE_MAX_DATA_BYTES}`, String(length), at(8));
  const blocks = blocksFor(length);
  const parityAt = ZONE_DATA_OFFSET + blocks * ZONE_BLOCK_BYTES;
  for (let b = 0; b < blocks; b++) {
    const off = ZONE_DATA_OFFSET + b * ZONE_BLOCK_BYTES;
    const fixed = rsDecode(
      work.subarray(off, off + ZONE_BLOCK_BYTES),
      work.subarray(parityAt + b * ZONE_PARITY_BYTES, parityAt + (b + 1) * ZONE_PARITY_BYTES),
    );
    if (fixed < 0)
      throw new FormatError(
        `persistent zone block ${b}`,
        `at most ${ZONE_PARITY_BYTES / 2} damaged bytes`,
        'more than the parity corrects',
        at(off),
      );
    corrected += fixed;
  }
  const data = work.slice(ZONE_DATA_OFFSET, ZONE_DATA_OFFSET + length);
  const crc = crc32(data);
  if (crc !== v.getUint32(12, true)) throw new FormatError('persistent zone CRC-32', hex(v.getUint32(12, true)), hex(crc), at(12));
  return { data, correctedBytes: corrected };
}
