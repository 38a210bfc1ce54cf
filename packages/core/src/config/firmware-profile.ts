import { ConfigError } from '../errors';
import { parseSize } from '../units';
import type { Scenario } from './scenario';
import { NAME, Reader, readComponent, type Obj } from './json';
import { MAX_RAM } from './run-options';

// ---- firmware profiles (data files of @efikdump/firmware-uefi; scenarios override their fields) ----

/** Where a firmware writes during POST, besides what it always owns (domain reference §5.7 [analysis], §5.9). */
export type ScratchRangeSpec =
  /** A fixed physical range, e.g. the low 640 KiB or OVMF's decompressed firmware volumes. */
  | { label: string; start: number; bytes: number }
  /** Every range the firmware's own memory map gives this EFI memory type (its heaps and stacks). */
  | { label: string; memoryType: string }
  /** The top `belowFirmwareBytes` of conventional memory under the firmware's regions: what its allocator hands out first (images it loads). */
  | { label: string; belowFirmwareBytes: number }
  /** The ranges a measured retention profile (`efikdump probe retention`; a path under the firmware package's profiles/) predicts for this memory size, for one reset type. */
  | { label: string; measured: string; reset: 'warm' | 'cold' | 'as-reset' };

/** Injected firmware faults a scenario may name. */
export const FIRMWARE_FAULTS = ['runtime-lock-busy-at-panic', 'power-loss-during-panic-nv-write'] as const;
export type FirmwareFault = (typeof FIRMWARE_FAULTS)[number];

/** Every figure of a firmware profile: one flat object, so a scenario overrides a field by its name. */
export interface FirmwareProfileFields {
  /** edk2 store record format: 60-byte AUTHENTICATED_VARIABLE_HEADER or 32-byte VARIABLE_HEADER (§5.2). */
  variableStoreFormat: 'authenticated' | 'plain';
  /** The NV variable store region (VARIABLE_STORE_HEADER.Size plus the volume header), bytes (§5.2). */
  nvramBytes: number;
  /** Largest variable, header + name + data (PcdMaxVariableSize, §5.2). */
  maxVariableBytes: number;
  /** Largest HwErrRec variable (PcdMaxHardwareErrorVariableSize, §5.2). */
  maxHwErrVariableBytes: number;
  /** Space kept for hardware error records only (PcdHwErrStorageSize; 0 = not supported, §5.2). */
  hwErrStorageBytes: number;
  /** Size of the volatile variable store in RAM. */
  volatileBytes: number;
  /** Bytes of live variables the firmware and earlier OS boots left in the store at power-on. */
  nvramBytesUsed: number;
  /** Bytes of deleted copies waiting for reclaim at power-on (§5.2: space returns only on reclaim). */
  nvramBytesGarbage: number;
  /** Flash erase block size. */
  nvramBlockBytes: number;
  /** Fixed cost of one NV write (SMM entry, flash command), µs (§5.3 [analysis]). */
  nvramWriteFixedUs: number;
  /** Flash programming cost per byte, µs. */
  nvramWriteUsPerByte: number;
  /** Cost of erasing one block during reclaim, µs. */
  nvramEraseUsPerBlock: number;
  /** Whether a full store is reclaimed inside a runtime SetVariable (edk2: no, it fails and reclaims on the next boot; §5.3). */
  reclaimAtRuntime: boolean;
  /** What power lost in the middle of an NV write leaves: the old value, no value, or a corrupt value. */
  tornWrite: 'atomic' | 'lost' | 'corrupt';
  /** What EfiResetWarm does: a warm reset, or a cold one where warm is unsupported (§5.5). */
  warmReset: 'warm' | 'cold';
  /** What EfiResetPlatformSpecific does (§5.5: OVMF → cold). */
  platformSpecificReset: 'warm' | 'cold';
  /** Whether ResetData survives for the next boot to read as the reset reason (§5.5: OVMF ignores it). */
  resetDataKept: boolean;
  /** POST duration after a cold reset or power-on, [min, max] ms, drawn per run (§5.9, §9.3). */
  postColdMs: [number, number];
  /** POST duration after a warm reset, [min, max] ms (§9.3). */
  postWarmMs: [number, number];
  /** Platform reset of every device (PERST#), ms (§8). */
  deviceResetMs: number;
  /** How long DRAM is unpowered during a cold reset, ms (decay; §5.9). */
  coldPowerOffMs: number;
  /** When the memory controller writes all RAM to initialise ECC (§5.9). */
  eccReinit: 'never' | 'cold' | 'cold-and-warm';
  /** DRAM bit flips per GiB per second without power (decay; §5.9 Halderman et al.). */
  decayBitFlipsPerGiBPerSecond: number;
  /** The ranges POST overwrites (the firmware-scratch retention policy). */
  scratch: ScratchRangeSpec[];
  /** Where `scratch` comes from: measured on real firmware, modelled from analysis, or the ideal firmware that keeps all RAM (`scratch` empty). */
  retention: 'measured' | 'modelled' | 'ideal';
  /** The EFI memory map the firmware hands the OS: efikdump's q35 model, or a measured map (a retention profile under profiles/ with memory maps) mapped onto the machine's size. */
  memoryMap: string;
  /** MemoryOverwriteRequestControl: absent, created by firmware, or created and set to 1 by the OS on every boot (§5.8). */
  mor: 'absent' | 'present' | 'set-by-os';
  /** A serial port the capture kernel can print to (§8). */
  serial: boolean;
  /** A GOP framebuffer console after POST (§8). */
  gop: boolean;
  /** ERST present, backed by the firmware's persistent store (§6.2). */
  erst: boolean;
  /** Capacity of the ERST persistent store, bytes. */
  erstStorageBytes: number;
  /** Size of the ERST error log address range (largest record), bytes (§6.2). */
  erstRecordBytes: number;
  /** Cost of one ERST write (firmware/SMM to flash), ms (§6.2). */
  erstWriteMs: number;
  /** BERT present (§6.3). */
  bert: boolean;
  /** Whether POST republishes the previous boot's ERST records in BERT (§6.3 [analysis]). */
  bertFromErst: boolean;
  /** ACPI OEM ID, at most 6 ASCII characters. */
  oemId: string;
  /** ACPI OEM Table ID, at most 8 ASCII characters. */
  oemTableId: string;
  /**
   * The retention policies this platform applies on every reset that keeps no memory on purpose
   * (not fadump's), after the design's own `retention` list and skipping any the design names: on
   * the built-in profiles `mor`, `firmware-scratch`, `ecc-reinit` and `decay`, each a no-op where
   * this profile's figures say never (mor absent, no scratch ranges, eccReinit never, no decay).
   * Plug-in names of the retention slot, or `{"name": ..., "options": {...}}`.
   */
  platformRetention: PlatformRetentionSpec[];
}

/** One retention policy a firmware profile lists: a plug-in name and the options written for it. */
export interface PlatformRetentionSpec {
  name: string;
  options?: Readonly<Record<string, unknown>>;
}

/** A firmware profile file: `packages/firmware-uefi/profiles/<name>.json`. */
export interface FirmwareProfile extends FirmwareProfileFields {
  format: 'efikdump-firmware-profile/1';
  name: string;
  description: string;
  /** Where each figure comes from: field name → citation (a domain reference section or a primary source). */
  sourceOf: Record<string, string>;
  /** The file the profile was read from. */
  source: string;
}

/** What a scenario's `firmware` object holds: any profile fields, and faults. */
export type FirmwareOverrides = Partial<FirmwareProfileFields> & { faults?: FirmwareFault[] };

type FieldSpec =
  | { kind: 'bytes'; min: number; max: number; page?: boolean }
  | { kind: 'number'; min: number; max: number }
  | { kind: 'boolean' }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'ms-range'; max: number }
  | { kind: 'scratch' }
  | { kind: 'memory-map' }
  | { kind: 'ascii'; max: number }
  | { kind: 'components' };

const KB = 1024;
export const EFI_MEMORY_TYPE_NAMES_FOR_SCRATCH = [
  'BootServicesCode',
  'BootServicesData',
  'LoaderCode',
  'LoaderData',
  'Reserved',
  'AcpiReclaim',
  'AcpiNvs',
  'RuntimeServicesCode',
  'RuntimeServicesData',
] as const;

export const FIRMWARE_PROFILE_FIELDS: Readonly<Record<keyof FirmwareProfileFields, FieldSpec>> = {
  variableStoreFormat: { kind: 'enum', values: ['authenticated', 'plain'] },
  nvramBytes: { kind: 'bytes', min: 16 * KB, max: 64 * 1024 * KB, page: true },
  maxVariableBytes: { kind: 'bytes', min: 64, max: 64 * 1024 * KB },
  maxHwErrVariableBytes: { kind: 'bytes', min: 64, max: 64 * 1024 * KB },
  hwErrStorageBytes: { kind: 'bytes', min: 0, max: 64 * 1024 * KB },
  volatileBytes: { kind: 'bytes', min: 4 * KB, max: 64 * 1024 * KB },
  nvramBytesUsed: { kind: 'bytes', min: 0, max: 64 * 1024 * KB },
  nvramBytesGarbage: { kind: 'bytes', min: 0, max: 64 * 1024 * KB },
  nvramBlockBytes: { kind: 'bytes', min: 512, max: 1024 * KB },
  nvramWriteFixedUs: { kind: 'number', min: 0, max: 10_000_000 },
  nvramWriteUsPerByte: { kind: 'number', min: 0, max: 10_000 },
  nvramEraseUsPerBlock: { kind: 'number', min: 0, max: 10_000_000 },
  reclaimAtRuntime: { kind: 'boolean' },
  tornWrite: { kind: 'enum', values: ['atomic', 'lost', 'corrupt'] },
  warmReset: { kind: 'enum', values: ['warm', 'cold'] },
  platformSpecificReset: { kind: 'enum', values: ['warm', 'cold'] },
  resetDataKept: { kind: 'boolean' },
  postColdMs: { kind: 'ms-range', max: 3_600_000 },
  postWarmMs: { kind: 'ms-range', max: 3_600_000 },
  deviceResetMs: { kind: 'number', min: 0, max: 600_000 },
  coldPowerOffMs: { kind: 'number', min: 0, max: 86_400_000 },
  eccReinit: { kind: 'enum', values: ['never', 'cold', 'cold-and-warm'] },
  decayBitFlipsPerGiBPerSecond: { kind: 'number', min: 0, max: 1e12 },
  scratch: { kind: 'scratch' },
  retention: { kind: 'enum', values: ['measured', 'modelled', 'ideal'] },
  memoryMap: { kind: 'memory-map' },
  mor: { kind: 'enum', values: ['absent', 'present', 'set-by-os'] },
  serial: { kind: 'boolean' },
  gop: { kind: 'boolean' },
  erst: { kind: 'boolean' },
  erstStorageBytes: { kind: 'bytes', min: 0, max: 64 * 1024 * KB },
  erstRecordBytes: { kind: 'bytes', min: 256, max: 64 * KB },
  erstWriteMs: { kind: 'number', min: 0, max: 600_000 },
  bert: { kind: 'boolean' },
  bertFromErst: { kind: 'boolean' },
  oemId: { kind: 'ascii', max: 6 },
  oemTableId: { kind: 'ascii', max: 8 },
  platformRetention: { kind: 'components' },
};

const FIELD_NAMES = Object.keys(FIRMWARE_PROFILE_FIELDS) as (keyof FirmwareProfileFields)[];

function readBytesField(r: Reader, v: unknown, field: string, spec: { min: number; max: number; page?: boolean }): number {
  let n: number;
  try {
    n = typeof v === 'number' ? v : typeof v === 'string' ? parseSize(v, field) : NaN;
  } catch {
    return r.fail(field, 'a size such as "64KiB" or 0x10000', v);
  }
  if (!Number.isSafeInteger(n) || n < spec.min || n > spec.max || (spec.page && n % 4096)) {
    r.fail(field, `${spec.page ? 'a page-multiple size' : 'a size'} from ${spec.min} to ${spec.max} bytes`, v);
  }
  return n;
}

function readScratch(r: Reader, v: unknown, field: string): ScratchRangeSpec[] {
  if (!Array.isArray(v)) r.fail(field, 'a list of ranges', v);
  return (v as unknown[]).map((item, i) => {
    const f = `${field}[${i}]`;
    const o = r.object(item, f);
    const label = r.string(o, 'label', `${f}.label`);
    if ('memoryType' in o) {
      r.only(o, f, ['label', 'memoryType']);
      const t = o.memoryType;
      if (typeof t !== 'string' || !(EFI_MEMORY_TYPE_NAMES_FOR_SCRATCH as readonly string[]).includes(t)) {
        r.fail(`${f}.memoryType`, `one of ${EFI_MEMORY_TYPE_NAMES_FOR_SCRATCH.join(', ')}`, t);
      }
      return { label, memoryType: t as string };
    }
    if ('measured' in o) {
      r.only(o, f, ['label', 'measured', 'reset']);
      const measured = r.string(o, 'measured', `${f}.measured`);
      if (!/^measured\/[A-Za-z0-9._-]+\.json$/.test(measured))
        r.fail(`${f}.measured`, 'a committed retention profile such as "measured/ovmf-retention.json"', measured);
      // "as-reset": the measurement of the reset the run does (warm or cold).
      if (o.reset !== 'warm' && o.reset !== 'cold' && o.reset !== 'as-reset')
        r.fail(`${f}.reset`, 'one of "warm", "cold", "as-reset"', o.reset);
      return { label, measured, reset: o.reset as 'warm' | 'cold' | 'as-reset' };
    }
    if ('belowFirmwareBytes' in o) {
      r.only(o, f, ['label', 'belowFirmwareBytes']);
      return {
        label,
        belowFirmwareBytes: readBytesField(r, o.belowFirmwareBytes, `${f}.belowFirmwareBytes`, { min: 4096, max: MAX_RAM, page: true }),
      };
    }
    r.only(o, f, ['label', 'start', 'bytes']);
    if (o.start === undefined) r.fail(f, 'start and bytes, memoryType, belowFirmwareBytes, or measured and reset', Object.keys(o));
    const start = readBytesField(r, o.start, `${f}.start`, { min: 0, max: MAX_RAM, page: true });
    const bytes = readBytesField(r, o.bytes, `${f}.bytes`, { min: 4096, max: MAX_RAM, page: true });
    return { label, start, bytes };
  });
}

function readField(r: Reader, name: keyof FirmwareProfileFields, v: unknown, field: string): unknown {
  const spec = FIRMWARE_PROFILE_FIELDS[name];
  switch (spec.kind) {
    case 'bytes':
      return readBytesField(r, v, field, spec);
    case 'number':
      if (typeof v !== 'number' || !Number.isFinite(v) || v < spec.min || v > spec.max)
        r.fail(field, `a number from ${spec.min} to ${spec.max}`, v);
      return v;
    case 'boolean':
      if (typeof v !== 'boolean') r.fail(field, 'true or false', v);
      return v;
    case 'enum':
      if (typeof v !== 'string' || !spec.values.includes(v))
        r.fail(field, `one of ${spec.values.map((x) => JSON.stringify(x)).join(', ')}`, v);
      return v;
    case 'ms-range': {
      const ok =
        Array.isArray(v) &&
        v.length === 2 &&
        v.every((x) => typeof x === 'number' && Number.isFinite(x) && x >= 0 && x <= spec.max) &&
        v[0] <= v[1];
      if (!ok) r.fail(field, `[min, max] milliseconds with 0 <= min <= max <= ${spec.max}`, v);
      return [v[0], v[1]];
    }
    case 'scratch':
      return readScratch(r, v, field);
    case 'memory-map':
      if (v !== 'modelled' && (typeof v !== 'string' || !/^measured\/[A-Za-z0-9._-]+\.json$/.test(v)))
        r.fail(field, '"modelled" or a committed retention profile with memory maps, such as "measured/ovmf-retention.json"', v);
      return v;
    case 'components':
      if (!Array.isArray(v) || v.length > 64) r.fail(field, 'a list of retention plug-in names or {"name": ..., "options": {...}}', v);
      return (v as unknown[]).map((item, i) => readComponent(r, item, `${field}[${i}]`));
    case 'ascii':
      if (typeof v !== 'string' || v.length > spec.max || !/^[\x20-\x7e]*$/.test(v))
        r.fail(field, `at most ${spec.max} printable ASCII characters`, v);
      return v;
  }
}

/** Reads the profile fields of `o` (all of them for a profile, any subset plus faults for overrides). For scenario.ts; not public. */
export function readFirmwareFields(
  r: Reader,
  o: Obj,
  prefix: string,
  mode: 'profile' | 'overrides',
): Partial<FirmwareProfileFields> & { faults?: FirmwareFault[] } {
  const path = (k: string) => (prefix ? `${prefix}.${k}` : k);
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(o)) {
    if (mode === 'overrides' && k === 'faults') {
      const v = o.faults;
      if (!Array.isArray(v)) r.fail(path('faults'), `a list of ${FIRMWARE_FAULTS.join(', ')}`, v);
      (v as unknown[]).forEach((f, i) => {
        if (typeof f !== 'string' || !(FIRMWARE_FAULTS as readonly string[]).includes(f))
          r.fail(`${path('faults')}[${i}]`, `one of ${FIRMWARE_FAULTS.join(', ')}`, f);
      });
      out.faults = [...new Set(v as FirmwareFault[])];
      continue;
    }
    if (!(k in FIRMWARE_PROFILE_FIELDS)) {
      const allowed = mode === 'overrides' ? [...FIELD_NAMES, 'faults'] : FIELD_NAMES;
      r.only({ [k]: o[k] }, prefix, allowed);
    }
    out[k] = readField(r, k as keyof FirmwareProfileFields, o[k], path(k));
  }
  if (mode === 'profile') {
    for (const k of FIELD_NAMES) if (out[k] === undefined) r.fail(path(k), `a value for ${k}`, undefined);
  }
  return out as Partial<FirmwareProfileFields> & { faults?: FirmwareFault[] };
}

/** Parses a firmware profile file; every field is required and every error names the file and the field. */
export function parseFirmwareProfile(doc: unknown, source: string): FirmwareProfile {
  const r = new Reader(source);
  const d = r.object(doc, '(document)');
  if (d.format !== 'efikdump-firmware-profile/1') r.fail('format', '"efikdump-firmware-profile/1"', d.format);
  const name = r.string(d, 'name', 'name');
  if (!NAME.test(name)) r.fail('name', 'a kebab-case name', name);
  const description = r.string(d, 'description', 'description');
  const src = r.object(d.source ?? {}, 'source');
  for (const [k, v] of Object.entries(src)) {
    if (!(k in FIRMWARE_PROFILE_FIELDS)) r.only({ [k]: v }, 'source', FIELD_NAMES);
    if (typeof v !== 'string' || !v.trim()) r.fail(`source.${k}`, 'a citation', v);
  }
  const { format: _f, name: _n, description: _d, source: _s, ...rest } = d;
  const fields = readFirmwareFields(r, rest, '', 'profile') as FirmwareProfileFields;
  const profile: FirmwareProfile = {
    format: 'efikdump-firmware-profile/1',
    name,
    description,
    sourceOf: src as Record<string, string>,
    ...fields,
    source,
  };
  checkFirmwareProfile(profile, (field) => ({ file: source, field }));
  return profile;
}

/**
 * The profile a run uses: `profile` with the scenario's fields replacing its own. Fields that
 * only make sense together are checked after merging; an error names the file the offending
 * value came from.
 */
export function applyFirmwareOverrides(profile: FirmwareProfile, scenario?: Pick<Scenario, 'firmware' | 'source'>): FirmwareProfile {
  const overrides = { ...(scenario?.firmware ?? {}) };
  delete overrides.faults;
  const merged: FirmwareProfile = { ...profile, ...overrides, sourceOf: { ...profile.sourceOf } };
  for (const k of Object.keys(overrides)) merged.sourceOf[k] = `scenario ${scenario!.source}`;
  // Scratch ranges a scenario writes are its own model, unless it also says what they are.
  if (overrides.scratch && !overrides.retention) {
    merged.retention = overrides.scratch.some((x) => 'measured' in x) ? 'measured' : overrides.scratch.length ? 'modelled' : 'ideal';
    merged.sourceOf.retention = `scenario ${scenario!.source} (its scratch ranges)`;
  }
  checkFirmwareProfile(merged, (field) =>
    scenario?.firmware && field in scenario.firmware
      ? { file: scenario.source, field: `firmware.${field}` }
      : { file: profile.source, field },
  );
  return merged;
}

/** Relations between fields: the store must hold its headers, the pre-filled bytes and one largest variable's header. */
function checkFirmwareProfile(
  p: FirmwareProfileFields,
  where: (field: keyof FirmwareProfileFields) => { file: string; field: string },
): void {
  const fail = (field: keyof FirmwareProfileFields, expected: string, found: unknown): never => {
    const w = where(field);
    throw new ConfigError(`expected ${expected}, found ${JSON.stringify(found)}`, w);
  };
  // 0x48 firmware volume header + 0x1c VARIABLE_STORE_HEADER (edk2 layout, §5.2).
  const storeData = p.nvramBytes - 0x48 - 0x1c;
  if (p.hwErrStorageBytes > storeData / 2)
    fail('hwErrStorageBytes', `at most half of the store (${Math.floor(storeData / 2)} bytes)`, p.hwErrStorageBytes);
  const common = storeData - p.hwErrStorageBytes;
  if (p.maxVariableBytes > common) fail('maxVariableBytes', `at most the store's common space (${common} bytes)`, p.maxVariableBytes);
  if (p.nvramBytesUsed + p.nvramBytesGarbage > common) {
    fail(
      p.nvramBytesGarbage > 0 && p.nvramBytesUsed <= common ? 'nvramBytesGarbage' : 'nvramBytesUsed',
      `nvramBytesUsed + nvramBytesGarbage at most the store's common space (${common} bytes)`,
      p.nvramBytesUsed + p.nvramBytesGarbage,
    );
  }
  if (p.nvramBytes % p.nvramBlockBytes) fail('nvramBlockBytes', `a divisor of nvramBytes (${p.nvramBytes})`, p.nvramBlockBytes);
  if (p.erst && p.erstStorageBytes < p.erstRecordBytes)
    fail('erstStorageBytes', `at least erstRecordBytes (${p.erstRecordBytes})`, p.erstStorageBytes);
  if (p.retention === 'ideal' && p.scratch.length)
    fail('scratch', 'no ranges for the ideal firmware (retention "ideal" keeps all RAM)', p.scratch.length);
  if (p.retention === 'measured' && !p.scratch.some((s) => 'measured' in s))
    fail('retention', '"measured" only with a measured scratch entry', p.retention);
}
