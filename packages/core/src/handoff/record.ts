import { createHmac, timingSafeEqual } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { HandoffInfo } from '../context';
import { FormatError } from '../errors';
import type { PhysRange } from '../memory/ranges';
import { hex, toSafeNumber } from '../units';

/*
 * The handoff record, version 2: encoded once, carried by every transport. Little-endian.
 *    0 u8[8]  magic "EFIKDUMP"          56 u16 crashkernel range count (1..16)
 *    8 u16    version (2)               58 u16 crash reason length in bytes (0..256)
 *   10 u16    header size (128)         60 u32 flags: bit 0 armed, bit 1 crashed
 *   12 u32    total length              64 u8[32] SHA-256 of the elfcorehdr
 *   16 u32    CRC-32 (CRC field taken   96 u8[32] HMAC-SHA256 with the boot key (CRC and
 *             as zero)                            MAC taken as zero); zero when unsigned
 *   20 u32    CPU count                128 ranges: { u64 start; u64 end } each
 *   24 u64    boot nonce                 …  crash reason (UTF-8), padded to 4
 *   32 i64    crash time (Unix s)        …  u32 log tail length, log tail (UTF-8), padded to 4
 *   40 u64    elfcorehdr address
 *   48 u64    elfcorehdr size
 */
export const RECORD_MAGIC = 'EFIKDUMP';
export const RECORD_VERSION = 2;
export const RECORD_HEADER_BYTES = 128;
export const RECORD_MAX_RANGES = 16;
export const RECORD_MAX_REASON_BYTES = 256;
export const RECORD_MAX_LOG_BYTES = 2048;
export const RECORD_MAX_BYTES = RECORD_HEADER_BYTES + RECORD_MAX_RANGES * 16 + RECORD_MAX_REASON_BYTES + 4 + RECORD_MAX_LOG_BYTES;
export const RECORD_MAC_OFFSET = 96;
export const RECORD_MAC_BYTES = 32;
export const FLAG_ARMED = 1;
export const FLAG_CRASHED = 2;

export interface HandoffRecord {
  flags: number;
  info: HandoffInfo;
  /** Why the kernel crashed (the panic string), at most 256 bytes of UTF-8. */
  reason: string;
  /** The tail of the kernel log, at most 2048 bytes of UTF-8. */
  logTail: string;
  /** HMAC-SHA256 with the boot key; all zero when unsigned. */
  mac: Uint8Array;
}

const pad4 = (n: number) => Math.ceil(n / 4) * 4;

/** Cuts `text` to at most `max` bytes of UTF-8 without splitting a character. */
export function truncateUtf8(text: string, max: number): Uint8Array {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= max) return new Uint8Array(bytes);
  let end = max;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return new Uint8Array(bytes.subarray(0, end));
}

/** A copy with the CRC field (and, for the MAC, the MAC field too) zeroed. */
function zeroedForChecks(bytes: Uint8Array, withoutMac: boolean): Uint8Array {
  const copy = new Uint8Array(bytes);
  copy.fill(0, 16, 20);
  if (withoutMac) copy.fill(0, RECORD_MAC_OFFSET, RECORD_MAC_OFFSET + RECORD_MAC_BYTES);
  return copy;
}

/** HMAC-SHA256 of an encoded record under `key` (CRC and MAC fields taken as zero). */
export function recordMac(encoded: Uint8Array, key: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac('sha256', key).update(zeroedForChecks(encoded, true)).digest());
}

export function encodeHandoffRecord(record: Omit<HandoffRecord, 'mac'>, key?: Uint8Array): Uint8Array {
  const { info } = record;
  if (info.crashkernel.length < 1 || info.crashkernel.length > RECORD_MAX_RANGES) {
    throw new FormatError('handoff record', `1 to ${RECORD_MAX_RANGES} crashkernel ranges`, String(info.crashkernel.length));
  }
  const reason = truncateUtf8(record.reason, RECORD_MAX_REASON_BYTES);
  const log = truncateUtf8(record.logTail, RECORD_MAX_LOG_BYTES);
  const rangesEnd = RECORD_HEADER_BYTES + info.crashkernel.length * 16;
  const logAt = rangesEnd + pad4(reason.length);
  const length = logAt + 4 + pad4(log.length);
  const out = new Uint8Array(length);
  const v = new DataView(out.buffer);
  out.set(Buffer.from(RECORD_MAGIC, 'ascii'), 0);
  v.setUint16(8, RECORD_VERSION, true);
  v.setUint16(10, RECORD_HEADER_BYTES, true);
  v.setUint32(12, length, true);
  v.setUint32(20, info.cpus, true);
  v.setBigUint64(24, BigInt('0x' + info.bootNonce), true);
  v.setBigInt64(32, BigInt(info.crashTimeUnix), true);
  v.setBigUint64(40, BigInt(info.elfcorehdr.paddr), true);
  v.setBigUint64(48, BigInt(info.elfcorehdr.size), true);
  v.setUint16(56, info.crashkernel.length, true);
  v.setUint16(58, reason.length, true);
  v.setUint32(60, record.flags, true);
  out.set(Buffer.from(info.elfcorehdr.sha256, 'hex'), 64);
  info.crashkernel.forEach((r, i) => {
    v.setBigUint64(RECORD_HEADER_BYTES + i * 16, BigInt(r.start), true);
    v.setBigUint64(RECORD_HEADER_BYTES + i * 16 + 8, BigInt(r.end), true);
  });
  out.set(reason, rangesEnd);
  v.setUint32(logAt, log.length, true);
  out.set(log, logAt + 4);
  if (key) out.set(recordMac(out, key), RECORD_MAC_OFFSET);
  // The CRC covers the MAC too: damage anywhere is caught without the key.
  v.setUint32(16, crc32(zeroedForChecks(out, false)), true);
  return out;
}

/**
 * Decodes a record from the bytes where a transport keeps it. Every length is checked against the
 * buffer before use; nothing is allocated from an untrusted size. `base` locates errors.
 */
export function decodeHandoffRecord(buf: Uint8Array, source: string, base = 0): HandoffRecord {
  const at = (off: number) => ({ file: source, offset: base + off });
  if (buf.length < RECORD_HEADER_BYTES) throw new FormatError('handoff record', `${RECORD_HEADER_BYTES} bytes`, `${buf.length}`, at(0));
  const magic = Buffer.from(buf.subarray(0, 8)).toString('latin1');
  if (magic !== RECORD_MAGIC) throw new FormatError('handoff record magic', `"${RECORD_MAGIC}"`, JSON.stringify(magic), at(0));
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const version = v.getUint16(8, true);
  if (version !== RECORD_VERSION) throw new FormatError('handoff record version', String(RECORD_VERSION), String(version), at(8));
  const headerBytes = v.getUint16(10, true);
  if (headerBytes !== RECORD_HEADER_BYTES)
    throw new FormatError('handoff record header size', String(RECORD_HEADER_BYTES), String(headerBytes), at(10));
  const count = v.getUint16(56, true);
  if (count < 1 || count > RECORD_MAX_RANGES)
    throw new FormatError('handoff record range count', `1 to ${RECORD_MAX_RANGES}`, String(count), at(56));
  const reasonBytes = v.getUint16(58, true);
  if (reasonBytes > RECORD_MAX_REASON_BYTES)
    throw new FormatError('handoff record reason length', `at most ${RECORD_MAX_REASON_BYTES}`, String(reasonBytes), at(58));
  const length = v.getUint32(12, true);
  const rangesEnd = RECORD_HEADER_BYTES + count * 16;
  const logAt = rangesEnd + pad4(reasonBytes);
  if (length > buf.length || length > RECORD_MAX_BYTES || length < logAt + 4) {
    throw new FormatError(
      'handoff record length',
      `${logAt + 4} to ${Math.min(buf.length, RECORD_MAX_BYTES)} bytes`,
      String(length),
      at(12),
    );
  }
  const logBytes = v.getUint32(logAt, true);
  if (logBytes > RECORD_MAX_LOG_BYTES || logAt + 4 + pad4(logBytes) !== length) {
    throw new FormatError(
      'handoff record log length',
      `${length - logAt - 4} bytes or fewer (at most ${RECORD_MAX_LOG_BYTES})`,
      String(logBytes),
      at(logAt),
    );
  }
  const stored = v.getUint32(16, true);
  const actual = crc32(zeroedForChecks(buf.subarray(0, length), false));
  if (stored !== actual) throw new FormatError('handoff record CRC-32', hex(actual), hex(stored), at(16));
  const num = (off: number, what: string) => toSafeNumber(v.getBigUint64(off, true), what, at(off));
  const crashkernel: PhysRange[] = [];
  for (let i = 0; i < count; i++) {
    const off = RECORD_HEADER_BYTES + i * 16;
    const start = num(off, 'crashkernel range start');
    const end = num(off + 8, 'crashkernel range end');
    if (end <= start) throw new FormatError('crashkernel range', 'end above start', `${hex(start)}-${hex(end)}`, at(off));
    crashkernel.push({ start, end });
  }
  const crashTime = v.getBigInt64(32, true);
  if (crashTime < 0n || crashTime > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new FormatError('handoff record crash time', 'Unix seconds from 0 to 2^53', crashTime.toString(), at(32));
  }
  const text = (start: number, n: number) => Buffer.from(buf.subarray(start, start + n)).toString('utf8');
  return {
    flags: v.getUint32(60, true),
    info: {
      version,
      bootNonce: v.getBigUint64(24, true).toString(16).padStart(16, '0'),
      crashkernel,
      elfcorehdr: {
        paddr: num(40, 'elfcorehdr address'),
        size: num(48, 'elfcorehdr size'),
        sha256: Buffer.from(buf.subarray(64, 96)).toString('hex'),
      },
      crashTimeUnix: Number(crashTime),
      cpus: v.getUint32(20, true),
    },
    reason: text(rangesEnd, reasonBytes),
    logTail: text(logAt + 4, logBytes),
    mac: new Uint8Array(buf.subarray(RECORD_MAC_OFFSET, RECORD_MAC_OFFSET + RECORD_MAC_BYTES)),
  };
}

/** Whether the record at `encoded` carries a valid MAC under `key` (constant-time compare). */
export function verifyRecordMac(encoded: Uint8Array, key: Uint8Array): boolean {
  if (encoded.length < RECORD_HEADER_BYTES) return false;
  const expected = recordMac(encoded, key);
  return timingSafeEqual(Buffer.from(expected), Buffer.from(encoded.subarray(RECORD_MAC_OFFSET, RECORD_MAC_OFFSET + RECORD_MAC_BYTES)));
}
