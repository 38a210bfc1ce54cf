import { FormatError, GUID_SIZE, readGuid, writeGuid, type ResetData } from '@efikdump/core';
import { decodeUcs2, encodeUcs2 } from '../variables/well-known';

// ResetData of ResetSystem (UEFI 2.10 §8.5.1): a NUL-terminated CHAR16 string, optionally followed
// by binary data; for EfiResetPlatformSpecific the string is followed by an EFI_GUID.

export function encodeResetData(d: ResetData): Uint8Array {
  const text = encodeUcs2(d.reason);
  const out = new Uint8Array(text.length + (d.guid ? GUID_SIZE : 0));
  out.set(text);
  if (d.guid) writeGuid(out, text.length, d.guid);
  return out;
}

/** Decodes ResetData; the GUID is read only when `platformSpecific` (otherwise trailing bytes are opaque). */
export function decodeResetData(bytes: Uint8Array, platformSpecific: boolean): ResetData & { extra: Uint8Array } {
  const { text, bytes: used } = decodeUcs2(bytes, 'ResetData string');
  if (!platformSpecific) return { reason: text, extra: bytes.slice(used) };
  if (bytes.length < used + GUID_SIZE)
    throw new FormatError('ResetData', `an EFI_GUID after the string (${used + GUID_SIZE} bytes)`, `${bytes.length} bytes`, {
      offset: used,
    });
  return { reason: text, guid: readGuid(bytes, used), extra: bytes.slice(used + GUID_SIZE) };
}
