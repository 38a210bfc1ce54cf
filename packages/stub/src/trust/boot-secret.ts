import { EFI_VARIABLE as A, hashString, Rng, EFIKDUMP_VENDOR_GUID, type FirmwareServices, type RunContext } from '@efikdump/core';

/** The stub's own copy of the secret it issued: NV|BS, so invisible and unwritable after ExitBootServices (UEFI §8.2). */
export const BOOT_SECRET_VARIABLE = 'EfikdumpBootSecret';
export const BOOT_SECRET_ATTRIBUTES = A.NON_VOLATILE | A.BOOTSERVICE_ACCESS;
/** Earlier nonces kept, newest first: a record carrying one of them was made for an earlier boot (a replay). */
export const NONCE_HISTORY = 16;

/*
 * EfikdumpBootSecret, little-endian:
 *    0 u8[4] "EKBS"                 40 u64 nonce
 *    4 u16   version (1)            48 u32 boot number it was issued at
 *    6 u16   earlier nonces n       52 u32 consecutive capture boots, this one included
 *    8 u8[32] HMAC key              56 u64[n] earlier nonces, newest first
 */
const MAGIC = 'EKBS';
const VERSION = 1;
const HEADER_BYTES = 56;

export interface BootSecret {
  key: Uint8Array;
  /** 16 hex digits. */
  nonce: string;
  issuedAtBoot: number;
  /** How many boots in a row, up to the one this secret was issued for, were capture boots. */
  captureBoots: number;
  earlierNonces: string[];
}

const nonceHex = (v: bigint) => v.toString(16).padStart(16, '0');

export function encodeBootSecret(s: BootSecret): Uint8Array {
  const history = s.earlierNonces.slice(0, NONCE_HISTORY);
  const out = new Uint8Array(HEADER_BYTES + 8 * history.length);
  const v = new DataView(out.buffer);
  out.set(Buffer.from(MAGIC, 'ascii'), 0);
  v.setUint16(4, VERSION, true);
  v.setUint16(6, history.length, true);
  out.set(s.key.subarray(0, 32), 8);
  v.setBigUint64(40, BigInt('0x' + s.nonce), true);
  v.setUint32(48, s.issuedAtBoot >>> 0, true);
  v.setUint32(52, s.captureBoots >>> 0, true);
  history.forEach((n, i) => v.setBigUint64(HEADER_BYTES + 8 * i, BigInt('0x' + n), true));
  return out;
}

/** The secret in the variable's data, or undefined when it is not one (only boot-time code can write it, so that means a bug or a fresh store). */
export function decodeBootSecret(data: Uint8Array): BootSecret | undefined {
  if (data.length < HEADER_BYTES || Buffer.from(data.subarray(0, 4)).toString('latin1') !== MAGIC) return undefined;
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const n = v.getUint16(6, true);
  if (v.getUint16(4, true) !== VERSION || n > NONCE_HISTORY || data.length !== HEADER_BYTES + 8 * n) return undefined;
  return {
    key: data.slice(8, 40),
    nonce: nonceHex(v.getBigUint64(40, true)),
    issuedAtBoot: v.getUint32(48, true),
    captureBoots: v.getUint32(52, true),
    earlierNonces: Array.from({ length: n }, (_, i) => nonceHex(v.getBigUint64(HEADER_BYTES + 8 * i, true))),
  };
}

/**
 * Reads the secret the stub issued on the previous boot. A variable of that name with any other
 * attributes was not written by the stub (the OS can create an NV|BS|RT variable of the same name
 * before the stub ever ran): it is ignored and removed.
 */
export function readBootSecret(ctx: RunContext, fw: FirmwareServices): { secret?: BootSecret; note?: string } {
  const r = fw.variables.getVariable(ctx, BOOT_SECRET_VARIABLE, EFIKDUMP_VENDOR_GUID);
  if (r.status === 'EFI_NOT_FOUND') return { note: 'no boot secret was issued before this boot' };
  if (r.status !== 'EFI_SUCCESS' || !r.data) return { note: `GetVariable(${BOOT_SECRET_VARIABLE}) returned ${r.status}` };
  if (r.attributes !== BOOT_SECRET_ATTRIBUTES) {
    fw.variables.setVariable(ctx, BOOT_SECRET_VARIABLE, EFIKDUMP_VENDOR_GUID, 0, new Uint8Array(0));
    return {
      note: `${BOOT_SECRET_VARIABLE} has attributes 0x${r.attributes?.toString(16)}, not NV|BS (0x3): planted from the OS, ignored and removed`,
    };
  }
  const secret = decodeBootSecret(r.data);
  return secret ? { secret } : { note: `${BOOT_SECRET_VARIABLE} is malformed (${r.data.length} bytes), ignored` };
}

/** A fresh key and nonce for `boot`, drawn from the run's seed (deterministic, as everything in a run). */
export function freshBootSecret(ctx: RunContext, previous: BootSecret | undefined, captureBoots: number): BootSecret {
  const rng = new Rng(ctx.seed, hashString('stub:boot-secret'), ctx.state.bootCount);
  const key = new Uint8Array(32);
  rng.fill(key);
  let nonce = rng.nextU64();
  const earlier = previous ? [previous.nonce, ...previous.earlierNonces] : [];
  while (nonce === 0n || earlier.includes(nonceHex(nonce))) nonce = rng.nextU64();
  return { key, nonce: nonceHex(nonce), issuedAtBoot: ctx.state.bootCount, captureBoots, earlierNonces: earlier.slice(0, NONCE_HISTORY) };
}

/** Stores the secret in the boot-services-only variable (SetVariable before ExitBootServices). */
export function storeBootSecret(ctx: RunContext, fw: FirmwareServices, secret: BootSecret): string {
  return fw.variables.setVariable(ctx, BOOT_SECRET_VARIABLE, EFIKDUMP_VENDOR_GUID, BOOT_SECRET_ATTRIBUTES, encodeBootSecret(secret)).status;
}
