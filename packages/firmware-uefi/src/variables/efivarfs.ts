import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { EFI_VARIABLE as A, FormatError, IoError, isGuid } from '@efikdump/core';
import { writeDirectoryAtomic } from '../io/write-directory-atomic';

// The efivarfs layout (Linux fs/efivarfs, Documentation/filesystems/efivarfs.rst): one file per
// variable named "<Name>-<guid>", holding the 4-byte little-endian attributes, then the data.
const FILE_NAME = /^(.+)-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;
/** Attributes that may appear in an efivarfs file (APPEND_WRITE is an operation, never stored). */
const STORED =
  A.NON_VOLATILE |
  A.BOOTSERVICE_ACCESS |
  A.RUNTIME_ACCESS |
  A.HARDWARE_ERROR_RECORD |
  A.AUTHENTICATED_WRITE_ACCESS |
  A.TIME_BASED_AUTHENTICATED_WRITE_ACCESS |
  A.ENHANCED_AUTHENTICATED_ACCESS;

export interface EfiVariableFile {
  name: string;
  guid: string;
  attributes: number;
  data: Uint8Array;
}

export const efivarfsFileName = (name: string, guid: string): string => `${name}-${guid}`;

export function encodeEfivarfsFile(v: EfiVariableFile): Uint8Array {
  const out = new Uint8Array(4 + v.data.length);
  new DataView(out.buffer).setUint32(0, v.attributes >>> 0, true);
  out.set(v.data, 4);
  return out;
}

/** Checks one efivarfs file: its name and its attribute word (runtime access, BS with RT, no unknown bits). */
export function decodeEfivarfsFile(fileName: string, bytes: Uint8Array, file?: string): EfiVariableFile {
  const m = FILE_NAME.exec(fileName);
  if (!m) throw new FormatError('efivarfs file name', '<Name>-<lower-case GUID>', JSON.stringify(fileName), { file });
  if (bytes.length < 4)
    throw new FormatError('efivarfs file', 'at least the 4-byte attributes', `${bytes.length} bytes`, { file, offset: 0 });
  const attributes = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
  if (attributes & ~STORED)
    throw new FormatError('efivarfs attributes', `only bits of 0x${STORED.toString(16)}`, `0x${attributes.toString(16)}`, {
      file,
      offset: 0,
    });
  if (!(attributes & A.RUNTIME_ACCESS) || !(attributes & A.BOOTSERVICE_ACCESS)) {
    throw new FormatError(
      'efivarfs attributes',
      'BOOTSERVICE_ACCESS and RUNTIME_ACCESS (efivarfs shows runtime variables)',
      `0x${attributes.toString(16)}`,
      { file, offset: 0 },
    );
  }
  return { name: m[1], guid: m[2], attributes, data: bytes.slice(4) };
}

/** Writes the variables into an efivarfs directory (created if absent), each file atomically; other files in it are kept. */
export function exportEfivarfs(dir: string, variables: readonly EfiVariableFile[]): void {
  const files = new Map<string, Uint8Array>();
  for (const v of variables) {
    if (v.name.includes('/') || !isGuid(v.guid))
      throw new FormatError('efivarfs variable', 'a name without "/" and a lower-case GUID', `${v.name}-${v.guid}`);
    files.set(efivarfsFileName(v.name, v.guid), encodeEfivarfsFile(v));
  }
  writeDirectoryAtomic(dir, files);
}

/** Reads an efivarfs directory (or a copy of /sys/firmware/efi/efivars). */
export function importEfivarfs(dir: string): EfiVariableFile[] {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch (e) {
    throw new IoError(`cannot read the directory: ${(e as Error).message}`, { file: dir });
  }
  return names
    .filter((n) => statSync(join(dir, n)).isFile())
    .map((n) => decodeEfivarfsFile(n, new Uint8Array(readFileSync(join(dir, n))), join(dir, n)));
}
