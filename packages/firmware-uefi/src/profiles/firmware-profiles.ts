import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError, parseFirmwareProfile, readJsonFile, type FirmwareProfile } from '@efikdump/core';

/** Profiles ship as JSON beside the package (`profiles/*.json`, listed in package.json "files"). */
export const PROFILES_DIR = resolve(__dirname, '../../profiles');
/** The profile a design that names none runs on. */
export const DEFAULT_FIRMWARE_PROFILE = 'ovmf';

const cache = new Map<string, FirmwareProfile>();

/** Names of the built-in profiles. */
export function firmwareProfileNames(): string[] {
  return existsSync(PROFILES_DIR)
    ? readdirSync(PROFILES_DIR)
        .filter((f) => f.endsWith('.json'))
        .map((f) => f.slice(0, -5))
        .sort()
    : [];
}

/**
 * A built-in profile by name, or a profile file by path. An unknown name is a ConfigError naming
 * the place it came from (`place`: the design file and field) and the known names.
 */
export function loadFirmwareProfile(nameOrPath: string, place: { file?: string; field?: string } = {}): FirmwareProfile {
  const isPath = nameOrPath.includes('/') || nameOrPath.endsWith('.json');
  const file = isPath ? resolve(nameOrPath) : join(PROFILES_DIR, `${nameOrPath}.json`);
  const cached = cache.get(file);
  if (cached) return cached;
  if (!isPath && !existsSync(file)) {
    throw new ConfigError(`Unknown firmware profile: ${nameOrPath} (known: ${firmwareProfileNames().join(', ')})`, place);
  }
  const profile = parseFirmwareProfile(readJsonFile(file), isPath ? nameOrPath : file);
  if (!isPath && profile.name !== nameOrPath)
    throw new ConfigError(`expected the name "${nameOrPath}" (the file name), found "${profile.name}"`, { file, field: 'name' });
  cache.set(file, profile);
  return profile;
}
