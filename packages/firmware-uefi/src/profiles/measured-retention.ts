import { join } from 'node:path';
import {
  ConfigError,
  EfiMemoryType,
  EFI_MEMORY_RUNTIME,
  EFI_MEMORY_WB,
  PAGE_SIZE,
  intersectRanges,
  mergeRanges,
  parseSize,
  readJsonFile,
  subtractRanges,
  type MemoryDescriptor,
  type PhysRange,
} from '@efikdump/core';
import { q35BelowFourGBytes } from '../probe/q35-layout';
import {
  readRetentionProfile,
  type MeasuredMemoryMap,
  type ProfileRange,
  type ResetKind,
  type RetentionProfile,
} from '../probe/retention-profile';
import { deriveRetentionScaling, predictOverwritten, type RetentionScaling } from '../probe/retention-scaling';
import { PROFILES_DIR } from './firmware-profiles';

/**
 * The moment of POST a measurement stops at: the probe's UEFI Shell prompt (or, with Secure Boot,
 * the boot manager's prompt), or the real path's boot-loader entry. What POST has written depends
 * on where it stops: the shell is one more image and more allocations.
 */
export type RetentionMoment = 'shell-prompt' | 'boot-manager-prompt' | 'loader-entry';

/** A real run's measurement at one moment and one size, refining a probe profile (`efikdump-retention-moment/1`). */
export interface RetentionMomentFile {
  moment: RetentionMoment;
  source: string;
  memoryBytes: number;
  pagesChanged: number;
  envelopes: { start: number; end: number; anchor: 'low' | 'top' }[];
  refines: string;
}

const scalingCache = new Map<string, RetentionScaling>();
const docCache = new Map<string, { kind: 'profile'; profile: RetentionProfile } | { kind: 'moment'; moment: RetentionMomentFile }>();

function readMeasured(file: string) {
  const path = join(PROFILES_DIR, file);
  const cached = docCache.get(path);
  if (cached) return cached;
  const doc = readJsonFile(path) as Record<string, unknown>;
  let out: { kind: 'profile'; profile: RetentionProfile } | { kind: 'moment'; moment: RetentionMomentFile };
  if (doc && doc.format === 'efikdump-retention-moment/1') out = { kind: 'moment', moment: parseMoment(doc, path) };
  else out = { kind: 'profile', profile: readRetentionProfile(path) };
  docCache.set(path, out);
  return out;
}

function parseMoment(doc: Record<string, unknown>, path: string): RetentionMomentFile {
  const fail = (field: string, expected: string, found: unknown): never => {
    throw new ConfigError(`expected ${expected}, found ${JSON.stringify(found)}`, { file: path, field });
  };
  if (doc.moment !== 'loader-entry' && doc.moment !== 'shell-prompt' && doc.moment !== 'boot-manager-prompt')
    fail('moment', '"loader-entry", "shell-prompt" or "boot-manager-prompt"', doc.moment);
  if (typeof doc.source !== 'string' || !doc.source) fail('source', 'where the measurement comes from', doc.source);
  if (typeof doc.refines !== 'string' || !/^measured\/[A-Za-z0-9._-]+\.json$/.test(doc.refines))
    fail('refines', 'a probe profile such as "measured/ovmf-retention.json"', doc.refines);
  if (!Number.isSafeInteger(doc.pagesChanged) || (doc.pagesChanged as number) < 0) fail('pagesChanged', 'a page count', doc.pagesChanged);
  let memoryBytes = 0;
  try {
    memoryBytes = parseSize(String(doc.memory), 'memory');
  } catch {
    fail('memory', 'a size such as "1GiB"', doc.memory);
  }
  if (!Array.isArray(doc.envelopes) || doc.envelopes.length === 0) fail('envelopes', 'a list of ranges', doc.envelopes);
  const envelopes = (doc.envelopes as Record<string, unknown>[]).map((e, i) => {
    const start = Number(e?.start);
    const end = Number(e?.end);
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start % PAGE_SIZE || end % PAGE_SIZE || end <= start)
      fail(`envelopes[${i}]`, 'page-aligned "start" and "end" with start < end', e);
    if (e.anchor !== 'low' && e.anchor !== 'top') fail(`envelopes[${i}].anchor`, '"low" or "top"', e.anchor);
    return { start, end, anchor: e.anchor as 'low' | 'top' };
  });
  return {
    moment: doc.moment as RetentionMoment,
    source: doc.source as string,
    memoryBytes,
    pagesChanged: doc.pagesChanged as number,
    envelopes,
    refines: doc.refines as string,
  };
}

/**
 * The rule a committed retention profile (`profiles/measured/*.json`, written by `efikdump probe
 * retention`) gives for one reset type: fixed low ranges and ranges at a fixed distance below the
 * top of RAM under 4 GiB, derived by the probe's own `deriveRetentionScaling` from the sizes it
 * measured. `file` is relative to the package's profiles directory, e.g. "measured/ovmf-retention.json".
 */
export function measuredRetentionScaling(file: string, reset: ResetKind): RetentionScaling {
  const path = join(PROFILES_DIR, file);
  const key = `${path}#${reset}`;
  const cached = scalingCache.get(key);
  if (cached) return cached;
  const doc = readMeasured(file);
  if (doc.kind !== 'profile')
    throw new ConfigError('expected a probe retention profile (efikdump-retention-profile/1)', { file: path, field: 'format' });
  let scaling: RetentionScaling;
  try {
    scaling = deriveRetentionScaling(doc.profile.measurements, reset);
  } catch (e) {
    throw new ConfigError(`expected measurements that follow one rule across sizes: ${(e as Error).message}`, {
      file: path,
      field: 'measurements',
    });
  }
  scalingCache.set(key, scaling);
  return scaling;
}

/** The moment of POST a measured file stands for. */
export function measuredMoment(file: string): RetentionMoment {
  const doc = readMeasured(file);
  if (doc.kind === 'moment') return doc.moment.moment;
  return doc.profile.firmware.secureBoot ? 'boot-manager-prompt' : 'shell-prompt';
}

/** A real run's moment file (undefined for a probe profile). */
export function measuredMomentFile(file: string): RetentionMomentFile | undefined {
  const doc = readMeasured(file);
  return doc.kind === 'moment' ? doc.moment : undefined;
}

/** An envelope of a moment file mapped onto `memoryBytes` the way the probe's ranges move. */
function envelopeAt(e: RetentionMomentFile['envelopes'][number], measuredBytes: number, memoryBytes: number): PhysRange {
  if (e.anchor === 'low') return { start: e.start, end: e.end };
  const shift = q35BelowFourGBytes(memoryBytes) - q35BelowFourGBytes(measuredBytes);
  return { start: Math.max(0, e.start + shift), end: Math.max(0, e.end + shift) };
}

/**
 * The ranges the measured firmware overwrites on a q35 guest of `memoryBytes` (before clipping to
 * System RAM). A moment file gives its envelopes, whole (see its `rule`): under QEMU warm and cold
 * take the same firmware path, so `reset` does not change them.
 */
export function measuredOverwritten(file: string, reset: ResetKind, memoryBytes: number): ProfileRange[] {
  const doc = readMeasured(file);
  if (doc.kind === 'profile') return predictOverwritten(measuredRetentionScaling(file, reset), memoryBytes);
  const m = doc.moment;
  const top = q35BelowFourGBytes(memoryBytes);
  return m.envelopes
    .map((e) => envelopeAt(e, m.memoryBytes, memoryBytes))
    .map((r) => ({ start: r.start, end: Math.min(r.end, top) }))
    .filter((r) => r.end > r.start)
    .map((r) => ({ start: r.start, end: r.end, pages: (r.end - r.start) / PAGE_SIZE, zeroPages: 0 }));
}

const EFI_TYPE_OF: Record<string, number> = {
  AcpiNvs: EfiMemoryType.AcpiNvs,
  AcpiReclaim: EfiMemoryType.AcpiReclaim,
  Reserved: EfiMemoryType.Reserved,
  RuntimeServicesData: EfiMemoryType.RuntimeServicesData,
  RuntimeServicesCode: EfiMemoryType.RuntimeServicesCode,
};

/**
 * The EFI memory map a measured profile's firmware gives a guest of `ramBytes`: the map the probe
 * read at the largest measured size, each region below 32 MiB at its address and every other one at
 * the same distance below the top of RAM under 4 GiB (the two measured maps, 256 MiB and 1 GiB,
 * agree with that rule exactly). Boot-services regions are typed BootServicesData (the condensed map
 * does not split code from data); RAM above 4 GiB is conventional.
 */
export function measuredMemoryMap(file: string, ramBytes: number): MemoryDescriptor[] {
  const doc = readMeasured(file);
  if (doc.kind !== 'profile' || doc.profile.memoryMaps.length === 0) {
    throw new ConfigError('expected a probe retention profile with memory maps (memoryMaps)', {
      file: join(PROFILES_DIR, file),
      field: 'memoryMaps',
    });
  }
  const maps = doc.profile.memoryMaps.slice().sort((a, b) => b.memoryBytes - a.memoryBytes);
  const m: MeasuredMemoryMap = maps[0];
  const lowSplit = 32 * 1024 * 1024;
  const shift = q35BelowFourGBytes(ramBytes) - q35BelowFourGBytes(m.memoryBytes);
  const move = (r: PhysRange): PhysRange => (r.end <= lowSplit ? r : { start: r.start + shift, end: r.end + shift });
  const lowTop = q35BelowFourGBytes(ramBytes);
  // Everything from 32 MiB to the top of low RAM is System RAM or one of the typed regions, at every measured size.
  const stretched = mergeRanges([...intersectRanges(m.systemRam, [{ start: 0, end: lowSplit }]), { start: lowSplit, end: lowTop }]);
  const others = m.other.map((o) => ({ ...move(o), type: o.type })).filter((o) => o.end <= lowTop && o.start >= 0);
  const bootServices = mergeRanges(m.bootServices.map(move));
  const ram = subtractRanges(stretched, [...others, ...bootServices]);
  const map: MemoryDescriptor[] = [];
  const add = (type: number, r: PhysRange, runtime = false) => {
    if (r.end > r.start)
      map.push({
        type,
        start: r.start,
        pages: (r.end - r.start) / PAGE_SIZE,
        attribute: EFI_MEMORY_WB | (runtime ? EFI_MEMORY_RUNTIME : 0n),
      });
  };
  for (const r of ram) add(EfiMemoryType.Conventional, r);
  for (const r of bootServices) add(EfiMemoryType.BootServicesData, r);
  for (const o of others) {
    const type = EFI_TYPE_OF[o.type];
    if (type !== undefined) add(type, o, o.type.startsWith('Runtime'));
  }
  if (ramBytes > lowTop) add(EfiMemoryType.Conventional, { start: 4 * 1024 ** 3, end: 4 * 1024 ** 3 + (ramBytes - lowTop) });
  return map.sort((a, b) => a.start - b.start);
}

/**
 * How a profile's retention is known, in one word or two: "measured (loader-entry)", "measured
 * (shell-prompt)", "modelled" or "ideal" — what listings and reports show beside its results.
 */
export function describeRetention(profile: {
  retention: 'measured' | 'modelled' | 'ideal';
  scratch: readonly ({ measured: string } | object)[];
}): string {
  if (profile.retention !== 'measured') return profile.retention;
  const moments = [
    ...new Set(profile.scratch.flatMap((s) => ('measured' in s ? [measuredMoment((s as { measured: string }).measured)] : []))),
  ];
  return `measured (${moments.join(', ')})`;
}
