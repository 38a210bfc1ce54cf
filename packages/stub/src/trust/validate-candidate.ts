import {
  FormatError,
  decodeHandoffRecord,
  FLAG_CRASHED,
  RECORD_HEADER_BYTES,
  RECORD_MAGIC,
  verifyRecordMac,
  type HandoffCandidate,
  type HandoffInfo,
  type HandoffRejection,
  type PhysRange,
  type PhysicalMemory,
  type HandoffRecord,
} from '@efikdump/core';
import { checkHandoff } from '../validate-handoff';
import type { BootSecret } from './boot-secret';

export type CandidateVerdict =
  | { kind: 'accepted'; record: HandoffRecord; info: HandoffInfo }
  /** A genuine record of the previous boot that records no crash (armed at kdump load, then a clean reset). */
  | { kind: 'armed'; reason: string }
  | { kind: 'rejected'; category: HandoffRejection; reason: string };

export interface TrustInputs {
  /** The secret the stub issued on the previous boot (undefined: none was, or it is gone). */
  previous?: BootSecret;
  systemRam: readonly PhysRange[];
  memory: PhysicalMemory;
  /** What crashkernel= places on this boot. */
  expectedReservation: readonly PhysRange[];
}

/** The nonce field of an encoded record, read without trusting the record (for matching, never for deciding). */
export const peekNonce = (b: Uint8Array): string =>
  new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(24, true).toString(16).padStart(16, '0');

/**
 * The stub's trust rules for one candidate, in order: it must decode (length, CRC, fields:
 * `truncated` or `corrupt`); carry a valid HMAC-SHA256 under the key issued on the previous boot
 * (else `replayed` when its nonce is one the stub issued earlier, `forged` otherwise); carry that
 * boot's nonce (`replayed`); record a crash (else it is only armed: a normal boot); name the
 * reservation crashkernel= places and an intact elfcorehdr inside it (`wrong-reservation`,
 * `corrupt`); and the previous boot must not already have been a capture boot (`loop`).
 */
export function validateCandidate(c: HandoffCandidate, t: TrustInputs): CandidateVerdict {
  const reject = (category: HandoffRejection, reason: string): CandidateVerdict => ({ kind: 'rejected', category, reason });
  const b = c.record;
  if (b.length < RECORD_HEADER_BYTES)
    return reject('truncated', `${b.length} bytes, shorter than the ${RECORD_HEADER_BYTES}-byte record header`);
  if (Buffer.from(b.subarray(0, 8)).toString('latin1') !== RECORD_MAGIC) return reject('corrupt', `no "${RECORD_MAGIC}" magic`);
  const declared = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(12, true);
  if (declared > b.length) return reject('truncated', `the record says ${declared} bytes, ${b.length} are present`);
  let record: HandoffRecord;
  try {
    record = decodeHandoffRecord(b, c.location);
  } catch (e) {
    if (!(e instanceof FormatError)) throw e;
    return reject('corrupt', e.message);
  }
  const encoded = b.subarray(0, declared);
  const nonce = record.info.bootNonce;
  if (!t.previous) return reject('forged', 'no boot secret was issued before this boot, so no record can be genuine');
  if (!verifyRecordMac(encoded, t.previous.key)) {
    const age = t.previous.earlierNonces.indexOf(nonce);
    if (age >= 0) return reject('replayed', `made for an earlier boot (nonce ${nonce}, ${age + 2} boots ago)`);
    return reject('forged', `HMAC-SHA256 does not verify under the key issued at boot #${t.previous.issuedAtBoot}`);
  }
  if (nonce !== t.previous.nonce)
    return reject('replayed', `nonce ${nonce} is not the one issued at boot #${t.previous.issuedAtBoot} (${t.previous.nonce})`);
  if (!(record.flags & FLAG_CRASHED))
    return { kind: 'armed', reason: `${c.source} record at ${c.location} is armed but no crash was recorded` };
  const invalid = checkHandoff(record.info, t.systemRam, t.memory, t.expectedReservation);
  if (invalid) return reject(invalid.category, invalid.reason);
  if (t.previous.captureBoots >= 1)
    return reject(
      'loop',
      `boot #${t.previous.issuedAtBoot} already was a capture boot (a panic in the capture kernel): booting normally instead`,
    );
  return { kind: 'accepted', record, info: record.info };
}
