import { join } from 'node:path';
import { ConfigError } from '@efikdump/core';
import { readRetentionProfile, type ProfileRange, type ResetKind } from '../probe/retention-profile';
import { deriveRetentionScaling, predictOverwritten, type RetentionScaling } from '../probe/retention-scaling';
import { PROFILES_DIR } from './firmware-profiles';

const cache = new Map<string, RetentionScaling>();

/**
 * The rule a committed retention profile (`profiles/measured/*.json`, written by `efikdump probe
 * retention`) gives for one reset type: fixed low ranges and ranges at a fixed distance below the
 * top of RAM under 4 GiB, derived by the probe's own `deriveRetentionScaling` from the sizes it
 * measured. `file` is relative to the package's profiles directory, e.g. "measured/ovmf-retention.json".
 */
export function measuredRetentionScaling(file: string, reset: ResetKind): RetentionScaling {
  const path = join(PROFILES_DIR, file);
  const key = `${path}#${reset}`;
  const cached = cache.get(key);
  if (cached) return cached;
  const profile = readRetentionProfile(path);
  let scaling: RetentionScaling;
  try {
    scaling = deriveRetentionScaling(profile.measurements, reset);
  } catch (e) {
    throw new ConfigError(`expected measurements that follow one rule across sizes: ${(e as Error).message}`, { file: path, field: 'measurements' });
  }
  cache.set(key, scaling);
  return scaling;
}

/** The ranges the measured firmware overwrites on a q35 guest of `memoryBytes` (before clipping to System RAM). */
export function measuredOverwritten(file: string, reset: ResetKind, memoryBytes: number): ProfileRange[] {
  return predictOverwritten(measuredRetentionScaling(file, reset), memoryBytes);
}
