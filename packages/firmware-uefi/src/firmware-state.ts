import {
  EFI_VARIABLE as A,
  type FirmwareFault,
  type FirmwareProfile,
  type FirmwareReport,
  type FirmwareState,
  type NvVariable,
} from '@efikdump/core';
import { emptyErstStore } from './acpi/erst-store';
import { emptyNvram, recordFootprint, VariableStore } from './variables/variable-store';
import {
  EFIKDUMP_PLATFORM_GUID,
  EFI_GLOBAL_VARIABLE_GUID,
  encodeUcs2,
  MEMORY_OVERWRITE_CONTROL_GUID,
  MEMORY_OVERWRITE_CONTROL_LOCK_GUID,
  MOR_LOCK_NAME,
  MOR_NAME,
  MTC_VENDOR_GUID,
  VAR_ADDED,
  VAR_DELETED,
} from './variables/well-known';

const NV_BS_RT = A.NON_VOLATILE | A.BOOTSERVICE_ACCESS | A.RUNTIME_ACCESS;
const NV_BS = A.NON_VOLATILE | A.BOOTSERVICE_ACCESS;

const u16 = (...xs: number[]) => Uint8Array.from(xs.flatMap((x) => [x & 0xff, x >>> 8]));
const ascii = (s: string) => new Uint8Array([...s].map((c) => c.charCodeAt(0)));

/** EFI_LOAD_OPTION (UEFI §3.1.3): Attributes, FilePathListLength, Description, device path (here only the end node). */
function loadOption(description: string): Uint8Array {
  const desc = encodeUcs2(description);
  const out = new Uint8Array(4 + 2 + desc.length + 4);
  const v = new DataView(out.buffer);
  v.setUint32(0, 1, true); // LOAD_OPTION_ACTIVE
  v.setUint16(4, 4, true);
  out.set(desc, 6);
  out.set([0x7f, 0xff, 0x04, 0x00], 6 + desc.length); // End of Hardware Device Path
  return out;
}

/** The variables a firmware of this profile has in its store at power-on (domain reference §5.11, §5.8). */
export function firmwareVariables(profile: FirmwareProfile): { name: string; guid: string; attributes: number; data: Uint8Array }[] {
  const vars = [
    { name: 'Boot0000', guid: EFI_GLOBAL_VARIABLE_GUID, attributes: NV_BS_RT, data: loadOption('Linux') },
    { name: 'BootOrder', guid: EFI_GLOBAL_VARIABLE_GUID, attributes: NV_BS_RT, data: u16(0) },
    { name: 'Timeout', guid: EFI_GLOBAL_VARIABLE_GUID, attributes: NV_BS_RT, data: u16(0) },
    { name: 'PlatformLang', guid: EFI_GLOBAL_VARIABLE_GUID, attributes: NV_BS_RT, data: ascii('en-US\0') },
    { name: 'Lang', guid: EFI_GLOBAL_VARIABLE_GUID, attributes: NV_BS_RT, data: ascii('eng') },
    { name: 'MTC', guid: MTC_VENDOR_GUID, attributes: NV_BS_RT, data: new Uint8Array(4) },
  ];
  if (profile.mor !== 'absent') {
    vars.push({ name: MOR_NAME, guid: MEMORY_OVERWRITE_CONTROL_GUID, attributes: NV_BS_RT, data: new Uint8Array(1) });
    vars.push({ name: MOR_LOCK_NAME, guid: MEMORY_OVERWRITE_CONTROL_LOCK_GUID, attributes: NV_BS_RT, data: new Uint8Array(1) });
  }
  return vars;
}

/**
 * Fills a fresh store as the profile says it is at power-on: the firmware's variables, then
 * boot-services-only platform data up to nvramBytesUsed, with nvramBytesGarbage of deleted
 * copies in front (older writes not yet reclaimed). Wear counters start at zero afterwards.
 */
export function prefillStore(store: VariableStore, profile: FirmwareProfile): void {
  const nv = store.nv;
  const fmt = nv.format;
  const garbage: NvVariable[] = [];
  let g = 0;
  for (let i = 0; g < profile.nvramBytesGarbage; i++) {
    const name = `PlatformHistory${i.toString(16).toUpperCase().padStart(4, '0')}`;
    const room = profile.nvramBytesGarbage - g;
    const overhead = recordFootprint(fmt, name, 0);
    if (room < overhead + 4) break;
    const dataBytes = Math.min(profile.maxVariableBytes - overhead, room - overhead) & ~3;
    garbage.push({
      name,
      guid: EFIKDUMP_PLATFORM_GUID,
      attributes: NV_BS,
      data: new Uint8Array(dataBytes).fill(0x5a),
      state: VAR_ADDED & VAR_DELETED,
    });
    g += recordFootprint(fmt, name, dataBytes);
  }
  nv.records.push(...garbage);
  for (const v of firmwareVariables(profile)) store.set(v.name, v.guid, v.attributes, v.data, { atRuntime: false });
  let live = store.usage().liveCommon;
  for (let i = 0; live < profile.nvramBytesUsed; i++) {
    const name = `PlatformData${i.toString(16).toUpperCase().padStart(4, '0')}`;
    const overhead = recordFootprint(fmt, name, 0);
    const room = profile.nvramBytesUsed - live;
    if (room < overhead + 4) break;
    const dataBytes = Math.min(profile.maxVariableBytes - overhead, room - overhead) & ~3;
    const data = new Uint8Array(dataBytes);
    for (let k = 0; k < data.length; k++) data[k] = (k * 31 + i) & 0xff;
    if (store.set(name, EFIKDUMP_PLATFORM_GUID, NV_BS, data, { atRuntime: false }).status !== 'EFI_SUCCESS') break;
    live = store.usage().liveCommon;
  }
  nv.bytesWritten = 0;
  nv.writes = 0;
  nv.busyUs = 0;
  nv.reclaims = 0;
  nv.eraseCounts.fill(0);
}

/** The firmware's state at power-on: a store pre-filled as the profile says, empty ERST, no reset yet. */
export function createFirmwareState(
  profile: FirmwareProfile,
  faults: readonly FirmwareFault[],
  finish: (fw: FirmwareState) => FirmwareReport,
): FirmwareState {
  const nvram = emptyNvram(profile);
  prefillStore(new VariableStore(nvram, profile), profile);
  const state: FirmwareState = {
    profile,
    faults: [...faults],
    nvram,
    erst: emptyErstStore(),
    bootErrors: [],
    atRuntime: false,
    runtimeLockBusy: false,
    powerLost: false,
    resets: [],
    retention: [],
    consoles: { serial: profile.serial, gop: profile.gop },
    finish: () => finish(state),
  };
  return state;
}

/** The JSON summary of the firmware for a run's result. */
export function firmwareReport(fw: FirmwareState): FirmwareReport {
  const store = new VariableStore(fw.nvram, fw.profile);
  const u = store.usage();
  return {
    profile: fw.profile.name,
    resets: fw.resets.map((r) => ({ ...r })),
    retention: fw.retention.map((r) => ({ ...r, changedRanges: r.changedRanges.map(([a, b]) => [a, b] as [number, number]) })),
    ...(fw.retentionPolicies ? { retentionPolicies: fw.retentionPolicies.map((p) => ({ ...p })) } : {}),
    nvram: {
      format: fw.nvram.format,
      capacityBytes: store.storeDataBytes,
      usedBytes: u.tail,
      liveBytes: u.liveCommon + u.liveHwErr,
      bytesWritten: fw.nvram.bytesWritten,
      writes: fw.nvram.writes,
      reclaims: fw.nvram.reclaims,
      eraseCounts: [...fw.nvram.eraseCounts],
    },
    erst: { present: fw.profile.erst, records: fw.erst.records.length, bytesWritten: fw.erst.bytesWritten },
    consoles: {
      serial: fw.consoles.serial,
      gop: fw.consoles.gop,
      captureOutputSeen: fw.consoles.captureOutputSeen ?? false,
      via: fw.consoles.via ?? 'none',
    },
    acpi: { rsdp: fw.acpi?.rsdp ?? 0, tables: (fw.acpi?.tables ?? []).map((t) => ({ ...t })) },
  };
}
