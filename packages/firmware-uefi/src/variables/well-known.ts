import { FormatError } from '@efikdump/core';

// Vendor GUIDs and names the model uses (domain reference §5.1, §5.8, §5.11, §7).
export const EFI_GLOBAL_VARIABLE_GUID = '8be4df61-93ca-11d2-aa0d-00e098032b8c';
export const EFI_HARDWARE_ERROR_VARIABLE_GUID = '414e6bdd-e47b-47cc-b244-bb61020cf516';
export const MEMORY_OVERWRITE_CONTROL_GUID = 'e20939be-32d4-41be-a150-897f85d49829';
export const MEMORY_OVERWRITE_CONTROL_LOCK_GUID = 'bb983ccf-151d-40e1-a07b-4a17be168292';
export const LINUX_EFI_CRASH_GUID = 'cfc8fc79-be2e-4ddc-97f0-9f98bfe298a0';
/** edk2 MonotonicCounterRuntimeDxe keeps the high 32 bits of the monotonic count in the NV variable "MTC" (gMtcVendorGuid), written on every boot. */
export const MTC_VENDOR_GUID = 'eb704011-1402-11d3-8e77-00a0c969723b';
/** Vendor of the firmware's own platform data (filler that makes a profile's store as full as it says). */
export const EFIKDUMP_PLATFORM_GUID = '5e0a4b6c-0c1f-4f3a-9d7e-3a1b2c4d5e6f';

export const MOR_NAME = 'MemoryOverwriteRequestControl';
export const MOR_LOCK_NAME = 'MemoryOverwriteRequestControlLock';
export const MOR_CLEAR_MEMORY = 0x1;

/** Linux's floor of free NV space a write may not cross (arch/x86/platform/efi/quirks.c EFI_MIN_RESERVE; §5.3). */
export const EFI_MIN_RESERVE = 5120;

// edk2 MdeModulePkg/Include/Guid/VariableFormat.h (§5.2).
export const VARIABLE_DATA = 0x55aa;
export const VAR_IN_DELETED_TRANSITION = 0xfe;
export const VAR_DELETED = 0xfd;
export const VAR_HEADER_VALID_ONLY = 0x7f;
export const VAR_ADDED = 0x3f;
export const PLAIN_HEADER_SIZE = 32;
export const AUTH_HEADER_SIZE = 60;
export const HEADER_ALIGNMENT = 4;

/** UCS-2 bytes of `name` with its terminating NUL (NameSize in the headers). */
export function encodeUcs2(name: string, nul = true): Uint8Array {
  const out = new Uint8Array(2 * (name.length + (nul ? 1 : 0)));
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 0 || (c >= 0xd800 && c <= 0xdfff))
      throw new FormatError('UCS-2 name', 'characters of the Basic Multilingual Plane other than NUL', JSON.stringify(name));
    out[2 * i] = c & 0xff;
    out[2 * i + 1] = c >>> 8;
  }
  return out;
}

/** Reads a NUL-terminated UCS-2 string from `bytes` (which must hold the NUL). */
export function decodeUcs2(bytes: Uint8Array, what = 'UCS-2 string'): { text: string; bytes: number } {
  let s = '';
  for (let i = 0; i + 1 < bytes.length; i += 2) {
    const c = bytes[i] | (bytes[i + 1] << 8);
    if (c === 0) return { text: s, bytes: i + 2 };
    s += String.fromCharCode(c);
  }
  throw new FormatError(what, 'a NUL-terminated UCS-2 string', 'no NUL before the end');
}

/** NameSize: bytes of the UCS-2 name including its NUL. */
export const nameSize = (name: string): number => 2 * (name.length + 1);

export const isHwErrRecName = (name: string): boolean => /^HwErrRec[0-9A-Fa-f]{4}$/.test(name);
