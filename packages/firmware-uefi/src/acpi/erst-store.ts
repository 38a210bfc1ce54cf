import {
  decodeCperRecord,
  ErstStatus,
  ERST_NO_RECORD_ID,
  FormatError,
  type ErstStoreState,
  type FirmwareProfileFields,
} from '@efikdump/core';

/** An empty ERST store; record identifiers the firmware hands out start at 1. */
export function emptyErstStore(): ErstStoreState {
  return { records: [], bytesWritten: 0, nextId: 1n };
}

const used = (s: ErstStoreState) => s.records.reduce((n, r) => n + r.bytes.length, 0);

/**
 * ERST write (ACPI §18.5; domain reference §6.2): the OS copies a CPER record into the error log
 * address range and the firmware persists it under the record's RecordID (a record with the same
 * ID is replaced). Costs the profile's erstWriteMs.
 */
export function erstWrite(
  s: ErstStoreState,
  p: FirmwareProfileFields,
  record: Uint8Array,
): { status: number; id?: bigint; costUs: number } {
  if (!p.erst) return { status: ErstStatus.HardwareNotAvailable, costUs: 0 };
  if (record.length > p.erstRecordBytes) return { status: ErstStatus.Failed, costUs: 0 };
  let id: bigint;
  try {
    id = decodeCperRecord(record).recordId;
  } catch (e) {
    if (e instanceof FormatError) return { status: ErstStatus.Failed, costUs: 0 };
    throw e;
  }
  if (id === 0n || id === ERST_NO_RECORD_ID) id = s.nextId++;
  const others = s.records.filter((r) => r.id !== id);
  if (others.reduce((n, r) => n + r.bytes.length, 0) + record.length > p.erstStorageBytes)
    return { status: ErstStatus.NotEnoughSpace, costUs: 0 };
  s.records = [...others, { id, bytes: record.slice() }];
  s.bytesWritten += record.length;
  if (id >= s.nextId) s.nextId = id + 1n;
  return { status: ErstStatus.Success, id, costUs: Math.round(p.erstWriteMs * 1000) };
}

/** ERST read: the record with `id`, or the first one; nextId is the identifier after it (or "no record"). */
export function erstRead(
  s: ErstStoreState,
  p: FirmwareProfileFields,
  id?: bigint,
): { status: number; record?: Uint8Array; id?: bigint; nextId?: bigint } {
  if (!p.erst) return { status: ErstStatus.HardwareNotAvailable };
  if (s.records.length === 0) return { status: ErstStatus.RecordStoreEmpty, nextId: ERST_NO_RECORD_ID };
  const i = id === undefined || id === 0n || id === ERST_NO_RECORD_ID ? 0 : s.records.findIndex((r) => r.id === id);
  if (i < 0) return { status: ErstStatus.RecordNotFound };
  const r = s.records[i];
  return { status: ErstStatus.Success, record: r.bytes.slice(), id: r.id, nextId: s.records[i + 1]?.id ?? ERST_NO_RECORD_ID };
}

export function erstClear(s: ErstStoreState, p: FirmwareProfileFields, id: bigint): { status: number } {
  if (!p.erst) return { status: ErstStatus.HardwareNotAvailable };
  const before = s.records.length;
  s.records = s.records.filter((r) => r.id !== id);
  return { status: s.records.length < before ? ErstStatus.Success : ErstStatus.RecordNotFound };
}

export const erstFreeBytes = (s: ErstStoreState, p: FirmwareProfileFields): number => Math.max(0, p.erstStorageBytes - used(s));
