import { encodeGuid, readGuid } from '@efikdump/core';

// EFI_VARIABLE_AUTHENTICATION_2 (UEFI 2.10 §8.2.2): EFI_TIME TimeStamp (16 bytes), then
// WIN_CERTIFICATE_UEFI_GUID { dwLength u32, wRevision u16, wCertificateType u16, CertType GUID, CertData }.
export const EFI_TIME_SIZE = 16;
export const WIN_CERT_UEFI_GUID_HEADER_SIZE = 24;
export const WIN_CERT_REVISION = 0x0200;
export const WIN_CERT_TYPE_EFI_GUID = 0x0ef1;
export const EFI_CERT_TYPE_PKCS7_GUID = '4aafd29d-68df-49ee-8aa9-347d375665a7';

export interface TimeBasedAuthentication {
  timestamp: Uint8Array;
  certData: Uint8Array;
  payload: Uint8Array;
}

/** What checks a time-based authenticated write's signature. The firmware model has no enrolled keys: the default rejects every one. */
export type AuthVerifier = (write: { name: string; guid: string; attributes: number } & TimeBasedAuthentication) => boolean;
export const REJECT_ALL: AuthVerifier = () => false;

/**
 * Parses the descriptor in front of a time-based authenticated write; undefined when it is not
 * well formed (edk2 VerifyTimeBasedPayload: Pad1, Nanosecond, TimeZone, Daylight and Pad2 must
 * be zero; the certificate must be WIN_CERT_TYPE_EFI_GUID with CertType PKCS7).
 */
export function parseTimeBasedAuthentication(data: Uint8Array): TimeBasedAuthentication | undefined {
  if (data.length < EFI_TIME_SIZE + WIN_CERT_UEFI_GUID_HEADER_SIZE) return undefined;
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const t = data.subarray(0, EFI_TIME_SIZE);
  const month = t[2];
  const day = t[3];
  if (t[7] !== 0 || v.getUint32(8, true) !== 0 || v.getInt16(12, true) !== 0 || t[14] !== 0 || t[15] !== 0) return undefined;
  if (month < 1 || month > 12 || day < 1 || day > 31 || t[4] > 23 || t[5] > 59 || t[6] > 59) return undefined;
  const dwLength = v.getUint32(EFI_TIME_SIZE, true);
  if (dwLength < WIN_CERT_UEFI_GUID_HEADER_SIZE || EFI_TIME_SIZE + dwLength > data.length) return undefined;
  if (v.getUint16(EFI_TIME_SIZE + 4, true) !== WIN_CERT_REVISION) return undefined;
  if (v.getUint16(EFI_TIME_SIZE + 6, true) !== WIN_CERT_TYPE_EFI_GUID) return undefined;
  if (readGuid(data, EFI_TIME_SIZE + 8) !== EFI_CERT_TYPE_PKCS7_GUID) return undefined;
  return {
    timestamp: data.slice(0, EFI_TIME_SIZE),
    certData: data.slice(EFI_TIME_SIZE + WIN_CERT_UEFI_GUID_HEADER_SIZE, EFI_TIME_SIZE + dwLength),
    payload: data.slice(EFI_TIME_SIZE + dwLength),
  };
}

/** Builds the descriptor + payload a caller passes to SetVariable (for tests and tools). */
export function encodeTimeBasedAuthentication(
  time: { year: number; month: number; day: number; hour?: number; minute?: number; second?: number },
  certData: Uint8Array,
  payload: Uint8Array,
): Uint8Array {
  const out = new Uint8Array(EFI_TIME_SIZE + WIN_CERT_UEFI_GUID_HEADER_SIZE + certData.length + payload.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, time.year, true);
  out[2] = time.month;
  out[3] = time.day;
  out[4] = time.hour ?? 0;
  out[5] = time.minute ?? 0;
  out[6] = time.second ?? 0;
  v.setUint32(EFI_TIME_SIZE, WIN_CERT_UEFI_GUID_HEADER_SIZE + certData.length, true);
  v.setUint16(EFI_TIME_SIZE + 4, WIN_CERT_REVISION, true);
  v.setUint16(EFI_TIME_SIZE + 6, WIN_CERT_TYPE_EFI_GUID, true);
  out.set(encodeGuid(EFI_CERT_TYPE_PKCS7_GUID), EFI_TIME_SIZE + 8);
  out.set(certData, EFI_TIME_SIZE + WIN_CERT_UEFI_GUID_HEADER_SIZE);
  out.set(payload, EFI_TIME_SIZE + WIN_CERT_UEFI_GUID_HEADER_SIZE + certData.length);
  return out;
}

/** EFI_TIME ordering by year, month, day, hour, minute, second: > 0 when `a` is later. */
export function compareEfiTime(a: Uint8Array, b: Uint8Array): number {
  const key = (t: Uint8Array) => [t[0] | (t[1] << 8), t[2], t[3], t[4], t[5], t[6]];
  const ka = key(a);
  const kb = key(b);
  for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i] - kb[i];
  return 0;
}
