import { EFI_VARIABLE as A, type EfiStatus, type FirmwareProfileFields, type NvramState, type NvVariable } from '@efikdump/core';
import { compareEfiTime, parseTimeBasedAuthentication, REJECT_ALL, type AuthVerifier } from './variable-auth';
import {
  AUTH_HEADER_SIZE,
  EFI_HARDWARE_ERROR_VARIABLE_GUID,
  HEADER_ALIGNMENT,
  isHwErrRecName,
  nameSize,
  PLAIN_HEADER_SIZE,
  VAR_ADDED,
  VAR_DELETED,
  VAR_HEADER_VALID_ONLY,
  VAR_IN_DELETED_TRANSITION,
} from './well-known';

/** edk2 layout of the variable firmware volume (§5.2): FV header 0x48, VARIABLE_STORE_HEADER 0x1c, then records. */
export const FV_HEADER_BYTES = 0x48;
export const STORE_HEADER_BYTES = 0x1c;
export const FIRST_RECORD_OFFSET = FV_HEADER_BYTES + STORE_HEADER_BYTES;
/** Between the store and the FTW spare OVMF keeps a 4 KiB event-log area and a 4 KiB FTW working block. */
export const FTW_AREA_BYTES = 0x2000;

const KNOWN_ATTRIBUTES =
  A.NON_VOLATILE |
  A.BOOTSERVICE_ACCESS |
  A.RUNTIME_ACCESS |
  A.HARDWARE_ERROR_RECORD |
  A.AUTHENTICATED_WRITE_ACCESS |
  A.TIME_BASED_AUTHENTICATED_WRITE_ACCESS |
  A.APPEND_WRITE |
  A.ENHANCED_AUTHENTICATED_ACCESS;
/** Attributes kept in the record (APPEND_WRITE is an operation, not a property). */
const STORED_ATTRIBUTES = KNOWN_ATTRIBUTES & ~A.APPEND_WRITE;

export const headerSizeOf = (format: NvramState['format']): number => (format === 'authenticated' ? AUTH_HEADER_SIZE : PLAIN_HEADER_SIZE);
const align = (n: number) => Math.ceil(n / HEADER_ALIGNMENT) * HEADER_ALIGNMENT;

/** The bytes a record occupies in the store: header, UCS-2 name with NUL, data, padded to 4. */
export function recordFootprint(format: NvramState['format'], name: string, dataBytes: number): number {
  return align(headerSizeOf(format) + nameSize(name) + dataBytes);
}

/** Whether a record is the valid copy of its variable (edk2: VAR_ADDED, or in deleted transition with no added copy). */
export function isLiveRecord(records: readonly NvVariable[], r: NvVariable): boolean {
  if (r.state === VAR_ADDED) return true;
  if (r.state !== (VAR_ADDED & VAR_IN_DELETED_TRANSITION)) return false;
  return !records.some((o) => o !== r && o.state === VAR_ADDED && o.name === r.name && o.guid === r.guid);
}

export interface SetOptions {
  /** After ExitBootServices (UEFI §7.4.6, §8.2). */
  atRuntime: boolean;
  verifier?: AuthVerifier;
  /** Power is lost after this fraction (0..1) of the record reached the flash. */
  tornAt?: number;
}

export interface StoreResult {
  status: EfiStatus;
  costUs: number;
  /** The write was torn by a power loss. */
  torn?: boolean;
  /** A reclaim ran inside this call. */
  reclaimed?: boolean;
}

export interface Located {
  record: NvVariable;
  volatile: boolean;
}

/**
 * The variable store of one machine: edk2's log-structured NV store (updates append, old copies
 * are marked deleted and come back only by reclaim) plus the volatile store, with UEFI §8.2's
 * rules on top. Operates on the run's `NvramState`, so the flash outlives resets.
 */
export class VariableStore {
  readonly headerBytes: number;
  /** Record space of the NV store (after the volume and store headers). */
  readonly storeDataBytes: number;
  readonly hwErrSpace: number;
  readonly commonSpace: number;
  readonly volatileSpace: number;

  constructor(
    readonly nv: NvramState,
    readonly profile: FirmwareProfileFields,
  ) {
    this.headerBytes = headerSizeOf(nv.format);
    this.storeDataBytes = profile.nvramBytes - FIRST_RECORD_OFFSET;
    this.hwErrSpace = profile.hwErrStorageBytes;
    this.commonSpace = this.storeDataBytes - this.hwErrSpace;
    this.volatileSpace = profile.volatileBytes - STORE_HEADER_BYTES;
  }

  /** Bytes the NV log holds (every record, deleted ones included), split as edk2 accounts them. */
  usage(): { tail: number; common: number; hwErr: number; liveCommon: number; liveHwErr: number; volatile: number } {
    const u = { tail: 0, common: 0, hwErr: 0, liveCommon: 0, liveHwErr: 0, volatile: 0 };
    for (const r of this.nv.records) {
      const fp = recordFootprint(this.nv.format, r.name, r.data.length);
      const live = isLiveRecord(this.nv.records, r);
      u.tail += fp;
      if (r.attributes & A.HARDWARE_ERROR_RECORD) {
        u.hwErr += fp;
        if (live) u.liveHwErr += fp;
      } else {
        u.common += fp;
        if (live) u.liveCommon += fp;
      }
    }
    for (const r of this.nv.volatile) u.volatile += recordFootprint(this.nv.format, r.name, r.data.length);
    return u;
  }

  /** The valid copy of a variable, NV first (edk2 FindVariable ignoring the runtime check). */
  find(name: string, guid: string): Located | undefined {
    const nv = this.nv.records.find((r) => r.name === name && r.guid === guid && isLiveRecord(this.nv.records, r));
    if (nv) return { record: nv, volatile: false };
    const vol = this.nv.volatile.find((r) => r.name === name && r.guid === guid && r.state === VAR_ADDED);
    return vol ? { record: vol, volatile: true } : undefined;
  }

  /** Every valid variable visible now: NV in flash order, then volatile; after ExitBootServices only RT ones. */
  visible(atRuntime: boolean): Located[] {
    const out: Located[] = [];
    for (const r of this.nv.records) if (isLiveRecord(this.nv.records, r)) out.push({ record: r, volatile: false });
    for (const r of this.nv.volatile) if (r.state === VAR_ADDED) out.push({ record: r, volatile: true });
    return atRuntime ? out.filter((l) => l.record.attributes & A.RUNTIME_ACCESS) : out;
  }

  /** GetVariable (UEFI §8.2.1). */
  get(
    name: string,
    guid: string,
    atRuntime: boolean,
    dataSize = Number.MAX_SAFE_INTEGER,
  ): { status: EfiStatus; attributes?: number; data?: Uint8Array; dataSize?: number } {
    if (name === '') return { status: 'EFI_NOT_FOUND' };
    const found = this.find(name, guid);
    if (!found || (atRuntime && !(found.record.attributes & A.RUNTIME_ACCESS))) return { status: 'EFI_NOT_FOUND' };
    const r = found.record;
    if (dataSize < r.data.length) return { status: 'EFI_BUFFER_TOO_SMALL', dataSize: r.data.length };
    return { status: 'EFI_SUCCESS', attributes: r.attributes, data: r.data.slice(), dataSize: r.data.length };
  }

  /** GetNextVariableName (UEFI §8.2.2): "" starts; an input that names no variable is EFI_INVALID_PARAMETER. */
  next(
    nameSizeBytes: number,
    name: string,
    guid: string,
    atRuntime: boolean,
  ): { status: EfiStatus; name?: string; guid?: string; nameSize?: number } {
    const list = this.visible(atRuntime);
    let i = 0;
    if (name !== '') {
      const at = list.findIndex((l) => l.record.name === name && l.record.guid === guid);
      if (at < 0) return { status: 'EFI_INVALID_PARAMETER' };
      i = at + 1;
    }
    if (i >= list.length) return { status: 'EFI_NOT_FOUND' };
    const r = list[i].record;
    const needed = nameSize(r.name);
    if (nameSizeBytes < needed) return { status: 'EFI_BUFFER_TOO_SMALL', nameSize: needed };
    return { status: 'EFI_SUCCESS', name: r.name, guid: r.guid, nameSize: needed };
  }

  /** QueryVariableInfo (UEFI §8.2.4), with edk2's accounting: at runtime deleted copies still count (no reclaim then). */
  query(
    attributes: number,
    atRuntime: boolean,
  ): { status: EfiStatus; maxStorageBytes?: number; remainingBytes?: number; maxVariableBytes?: number } {
    if (
      (attributes & (A.NON_VOLATILE | A.BOOTSERVICE_ACCESS | A.RUNTIME_ACCESS | A.HARDWARE_ERROR_RECORD)) === 0 ||
      attributes & ~KNOWN_ATTRIBUTES
    )
      return { status: 'EFI_INVALID_PARAMETER' };
    if ((attributes & (A.RUNTIME_ACCESS | A.BOOTSERVICE_ACCESS)) === A.RUNTIME_ACCESS) return { status: 'EFI_INVALID_PARAMETER' };
    if (atRuntime && !(attributes & A.RUNTIME_ACCESS)) return { status: 'EFI_INVALID_PARAMETER' };
    if (attributes & A.AUTHENTICATED_WRITE_ACCESS) return { status: 'EFI_UNSUPPORTED' };
    const hw = Boolean(attributes & A.HARDWARE_ERROR_RECORD);
    if (hw && !(attributes & A.NON_VOLATILE)) return { status: 'EFI_INVALID_PARAMETER' };
    if (hw && this.hwErrSpace === 0) return { status: 'EFI_UNSUPPORTED' };
    const u = this.usage();
    let max: number;
    let used: number;
    let maxVar: number;
    if (!(attributes & A.NON_VOLATILE)) {
      max = this.volatileSpace;
      used = u.volatile;
      maxVar = this.profile.maxVariableBytes - this.headerBytes;
    } else if (hw) {
      max = this.hwErrSpace;
      used = atRuntime ? u.hwErr : u.liveHwErr;
      maxVar = this.profile.maxHwErrVariableBytes - this.headerBytes;
    } else {
      max = this.commonSpace;
      used = atRuntime ? u.common : u.liveCommon;
      maxVar = this.profile.maxVariableBytes - this.headerBytes;
    }
    const remaining = Math.max(0, max - used);
    if (remaining < this.headerBytes) maxVar = 0;
    else if (remaining - this.headerBytes < maxVar) maxVar = remaining - this.headerBytes;
    return { status: 'EFI_SUCCESS', maxStorageBytes: max, remainingBytes: remaining, maxVariableBytes: maxVar };
  }

  /**
   * SetVariable (UEFI §8.2.3) with edk2's order of checks: attributes, then size, then the
   * existing variable (runtime rules, attribute mismatch, delete, append, authentication), then
   * the write with reclaim when the store is full.
   */
  set(name: string, guid: string, attributes: number, data: Uint8Array, opts: SetOptions): StoreResult {
    const fail = (status: EfiStatus): StoreResult => ({ status, costUs: 0 });
    if (name === '') return fail('EFI_INVALID_PARAMETER');
    if (attributes & ~KNOWN_ATTRIBUTES) return fail('EFI_INVALID_PARAMETER');
    // Runtime access requires boot-services access.
    if ((attributes & (A.RUNTIME_ACCESS | A.BOOTSERVICE_ACCESS)) === A.RUNTIME_ACCESS) return fail('EFI_INVALID_PARAMETER');
    if (attributes & (A.AUTHENTICATED_WRITE_ACCESS | A.ENHANCED_AUTHENTICATED_ACCESS)) return fail('EFI_UNSUPPORTED');
    const timeBased = Boolean(attributes & A.TIME_BASED_AUTHENTICATED_WRITE_ACCESS);
    if (timeBased && this.nv.format !== 'authenticated') return fail('EFI_INVALID_PARAMETER');
    const hw = Boolean(attributes & A.HARDWARE_ERROR_RECORD);
    if (hw) {
      if (this.hwErrSpace === 0) return fail('EFI_INVALID_PARAMETER');
      const nvBsRt = A.NON_VOLATILE | A.BOOTSERVICE_ACCESS | A.RUNTIME_ACCESS;
      if ((attributes & nvBsRt) !== nvBsRt || guid !== EFI_HARDWARE_ERROR_VARIABLE_GUID || !isHwErrRecName(name))
        return fail('EFI_INVALID_PARAMETER');
    }
    let payload = data;
    let timestamp: Uint8Array | undefined;
    if (timeBased) {
      const auth = parseTimeBasedAuthentication(data);
      if (!auth || !(opts.verifier ?? REJECT_ALL)({ name, guid, attributes, ...auth })) return fail('EFI_SECURITY_VIOLATION');
      payload = auth.payload;
      timestamp = auth.timestamp;
    }
    const limit = hw ? this.profile.maxHwErrVariableBytes : this.profile.maxVariableBytes;
    if (this.headerBytes + nameSize(name) + payload.length > limit) return fail('EFI_INVALID_PARAMETER');

    const append = Boolean(attributes & A.APPEND_WRITE);
    const stored = attributes & STORED_ATTRIBUTES;
    const noAccess = (attributes & (A.RUNTIME_ACCESS | A.BOOTSERVICE_ACCESS)) === 0;
    const existing = this.find(name, guid);
    if (existing) {
      const old = existing.record;
      if (opts.atRuntime) {
        // edk2: volatile variables are read-only at runtime; only NV+RT variables may change.
        if (existing.volatile) return fail('EFI_WRITE_PROTECTED');
        if (!(old.attributes & A.NON_VOLATILE) || !(attributes & A.RUNTIME_ACCESS)) return fail('EFI_INVALID_PARAMETER');
      }
      // A variable's attributes cannot change; only APPEND_WRITE may differ (attributes 0 deletes).
      if (attributes !== 0 && stored !== old.attributes) return fail('EFI_INVALID_PARAMETER');
      if (old.attributes & A.TIME_BASED_AUTHENTICATED_WRITE_ACCESS && !timeBased) return fail('EFI_SECURITY_VIOLATION');
      if (timestamp && old.timestamp && !append && compareEfiTime(timestamp, old.timestamp) <= 0) return fail('EFI_SECURITY_VIOLATION');
      if ((!append && payload.length === 0) || noAccess) return this.remove(existing);
      if (!append && !timeBased && equalBytes(old.data, payload)) return { status: 'EFI_SUCCESS', costUs: 0 };
      if (append && payload.length === 0) return { status: 'EFI_SUCCESS', costUs: 0 };
      const newData = append ? concat(old.data, payload) : payload;
      if (this.headerBytes + nameSize(name) + newData.length > limit) return fail('EFI_INVALID_PARAMETER');
      const newTime =
        timestamp && old.timestamp && compareEfiTime(timestamp, old.timestamp) < 0 ? old.timestamp : (timestamp ?? old.timestamp);
      return this.write({ ...old, data: newData.slice(), timestamp: newTime?.slice(), state: VAR_ADDED }, existing, opts);
    }
    if (payload.length === 0 && append) return { status: 'EFI_SUCCESS', costUs: 0 };
    if (payload.length === 0 || noAccess) return fail('EFI_NOT_FOUND');
    if (opts.atRuntime && (!(attributes & A.RUNTIME_ACCESS) || !(attributes & A.NON_VOLATILE))) return fail('EFI_INVALID_PARAMETER');
    const record: NvVariable = { name, guid, attributes: stored, data: payload.slice(), state: VAR_ADDED };
    if (this.nv.format === 'authenticated') {
      record.monotonicCount = 0n;
      record.timestamp = timestamp?.slice() ?? new Uint8Array(16);
      record.pubKeyIndex = 0;
    }
    return this.write(record, undefined, opts);
  }

  /** Drops every deleted copy by rewriting the store through the FTW spare (§5.2): erases both, costs time. */
  reclaim(): number {
    // The same record objects stay (callers may hold them), now the only, valid copies.
    const live = this.nv.records.filter((r) => isLiveRecord(this.nv.records, r));
    for (const r of live) r.state = VAR_ADDED;
    const liveBytes = live.reduce((s, r) => s + recordFootprint(this.nv.format, r.name, r.data.length), 0);
    this.nv.records = live;
    const p = this.profile;
    const storeBlocks = Math.ceil(p.nvramBytes / p.nvramBlockBytes);
    const spareStart = Math.ceil((p.nvramBytes + FTW_AREA_BYTES) / p.nvramBlockBytes);
    for (let i = 0; i < storeBlocks; i++) {
      this.nv.eraseCounts[i] = (this.nv.eraseCounts[i] ?? 0) + 1;
      this.nv.eraseCounts[spareStart + i] = (this.nv.eraseCounts[spareStart + i] ?? 0) + 1;
    }
    for (let i = 0; i < this.nv.eraseCounts.length; i++) this.nv.eraseCounts[i] ??= 0;
    // Whole store written twice (spare, then target), headers included.
    const bytes = 2 * (FIRST_RECORD_OFFSET + liveBytes);
    this.nv.bytesWritten += bytes;
    this.nv.reclaims++;
    const costUs = 2 * storeBlocks * p.nvramEraseUsPerBlock + bytes * p.nvramWriteUsPerByte + p.nvramWriteFixedUs;
    this.nv.busyUs += costUs;
    return costUs;
  }

  /** Bytes of deleted copies a reclaim would return. */
  reclaimableBytes(): number {
    const u = this.usage();
    return u.tail - u.liveCommon - u.liveHwErr;
  }

  private remove(loc: Located): StoreResult {
    if (loc.volatile) {
      this.nv.volatile = this.nv.volatile.filter((r) => r !== loc.record);
      return { status: 'EFI_SUCCESS', costUs: 0 };
    }
    loc.record.state &= VAR_DELETED;
    return { status: 'EFI_SUCCESS', costUs: this.program(1) };
  }

  private write(record: NvVariable, old: Located | undefined, opts: SetOptions): StoreResult {
    const volatile = !(record.attributes & A.NON_VOLATILE);
    const fp = recordFootprint(this.nv.format, record.name, record.data.length);
    if (volatile) {
      if (
        this.usage().volatile - (old ? recordFootprint(this.nv.format, old.record.name, old.record.data.length) : 0) + fp >
        this.volatileSpace
      )
        return { status: 'EFI_OUT_OF_RESOURCES', costUs: 0 };
      this.nv.volatile = this.nv.volatile.filter((r) => r !== old?.record);
      this.nv.volatile.push(record);
      return { status: 'EFI_SUCCESS', costUs: 0 };
    }
    const hw = Boolean(record.attributes & A.HARDWARE_ERROR_RECORD);
    const fits = () => {
      const u = this.usage();
      return (hw ? u.hwErr + fp <= this.hwErrSpace : u.common + fp <= this.commonSpace) && u.tail + fp <= this.storeDataBytes;
    };
    let costUs = 0;
    let reclaimed = false;
    if (!fits()) {
      // edk2 never reclaims after ExitBootServices: the write fails and ReclaimForOS runs on the next boot.
      if ((opts.atRuntime && !this.profile.reclaimAtRuntime) || this.reclaimableBytes() === 0)
        return { status: 'EFI_OUT_OF_RESOURCES', costUs: 0 };
      costUs += this.reclaim();
      reclaimed = true;
      if (!fits()) return { status: 'EFI_OUT_OF_RESOURCES', costUs, reclaimed };
    }
    this.nv.writes++;
    if (opts.tornAt !== undefined)
      return { ...this.tornWrite(record, old, fp, opts.tornAt), costUs: costUs + this.program(fp * opts.tornAt), reclaimed };
    // edk2 AddVariable: old copy → IN_DELETED_TRANSITION, new header (HEADER_VALID_ONLY), name and data, → ADDED, old → DELETED.
    if (old) old.record.state &= VAR_IN_DELETED_TRANSITION;
    this.nv.records.push(record);
    if (old) old.record.state &= VAR_DELETED;
    costUs += this.program(fp + (old ? 2 : 0) + 1);
    return { status: 'EFI_SUCCESS', costUs, reclaimed };
  }

  /** Power lost after `fraction` of the record: what is left follows the profile (§5.3 [analysis]). */
  private tornWrite(record: NvVariable, old: Located | undefined, fp: number, fraction: number): StoreResult {
    const header = this.headerBytes + nameSize(record.name);
    const dataWritten = Math.max(0, Math.min(record.data.length, Math.floor(fp * fraction) - header));
    const partial = record.data.slice();
    partial.fill(0xff, dataWritten);
    switch (this.profile.tornWrite) {
      case 'atomic':
        // The new copy never reached VAR_ADDED; the old one, still in transition, stays valid.
        if (old) old.record.state &= VAR_IN_DELETED_TRANSITION;
        this.nv.records.push({ ...record, data: partial, state: VAR_HEADER_VALID_ONLY });
        break;
      case 'lost':
        if (old) old.record.state &= VAR_DELETED;
        this.nv.records.push({ ...record, data: partial, state: VAR_HEADER_VALID_ONLY });
        break;
      case 'corrupt':
        if (old) old.record.state &= VAR_DELETED;
        this.nv.records.push({ ...record, data: partial, state: VAR_ADDED });
        break;
    }
    return { status: 'EFI_DEVICE_ERROR', costUs: 0, torn: true };
  }

  /** Programs `bytes` into the flash: counted for wear, timed by the profile. */
  private program(bytes: number): number {
    const b = Math.ceil(bytes);
    this.nv.bytesWritten += b;
    const costUs = this.profile.nvramWriteFixedUs + b * this.profile.nvramWriteUsPerByte;
    this.nv.busyUs += costUs;
    return costUs;
  }
}

/** A fresh, empty store for a profile (every flash block erased once at manufacture, counted as 0). */
export function emptyNvram(profile: FirmwareProfileFields): NvramState {
  const blocks = Math.ceil((2 * (profile.nvramBytes + FTW_AREA_BYTES)) / profile.nvramBlockBytes);
  return {
    format: profile.variableStoreFormat,
    records: [],
    volatile: [],
    bytesWritten: 0,
    writes: 0,
    eraseCounts: new Array(blocks).fill(0),
    reclaims: 0,
    busyUs: 0,
  };
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
