import { createHash } from 'node:crypto';
import { FormatError, type ErrorPlace } from '@efikdump/core';

/** Bytes of an EFI_GUID on disk. */
export const GUID_BYTES = 16;

const GUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** UEFI 2.10 appendix A: the first three fields little-endian, the last eight bytes as written. */
export function encodeGuid(text: string): Uint8Array {
  if (!GUID_TEXT.test(text)) throw new FormatError('GUID', 'xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx', JSON.stringify(text));
  const hexDigits = text.replace(/-/g, '');
  const b = Buffer.from(hexDigits, 'hex');
  const out = new Uint8Array(GUID_BYTES);
  out.set([b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6]], 0);
  out.set(b.subarray(8), 8);
  return out;
}

export function decodeGuid(buf: Uint8Array, off = 0, place: ErrorPlace = {}): string {
  if (off < 0 || off + GUID_BYTES > buf.length) throw new FormatError('GUID', '16 bytes', `${Math.max(0, buf.length - off)} bytes`, place);
  const b = buf.subarray(off, off + GUID_BYTES);
  const h = (bytes: number[]): string => Buffer.from(bytes).toString('hex');
  return [h([b[3], b[2], b[1], b[0]]), h([b[5], b[4]]), h([b[7], b[6]]), h([b[8], b[9]]), h([...b.subarray(10)])].join('-').toUpperCase();
}

/** A version-4-shaped GUID derived from `seed` and `label`, so the same inputs give the same disk. */
export function seededGuid(seed: number, label: string): string {
  const d = createHash('sha256')
    .update(`efikdump-guid:${seed >>> 0}:${label}`)
    .digest();
  d[6] = (d[6] & 0x0f) | 0x40;
  d[8] = (d[8] & 0x3f) | 0x80;
  const x = d.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`.toUpperCase();
}
