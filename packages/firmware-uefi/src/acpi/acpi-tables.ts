import {
  AcpiAddressSpace,
  CperSeverity,
  decodeCperRecord,
  EfiMemoryType,
  encodeBertBody,
  encodeErstBody,
  encodeGenericErrorStatusBlock,
  encodeRsdp,
  encodeSdt,
  encodeSpcrBody,
  encodeXsdtBody,
  ErstAction as Act,
  ErstInstruction as Ins,
  FormatError,
  GENERIC_ERROR_DATA_ENTRY_SIZE_V300,
  GENERIC_ERROR_DATA_REVISION,
  GENERIC_ERROR_STATUS_SIZE,
  genericErrorBlockStatus,
  NULL_GUID,
  PAGE_SIZE,
  SimulationError,
  type ErstEntry,
  type ErstStoreState,
  type FirmwareProfileFields,
  type GenericAddress,
  type GenericErrorDataEntry,
  type MemoryDescriptor,
  type SdtHeader,
} from '@efikdump/core';

/** ACPI tables firmware installs (ACPI 6.5 §5.2), with their physical addresses. */
export interface AcpiTable {
  signature: string;
  /** File name acpixtract would give it (rsdp.dat, xsdt.dat, ...). */
  fileName: string;
  paddr: number;
  bytes: Uint8Array;
}

export interface AcpiBuild {
  tables: AcpiTable[];
  rsdp: number;
  /** The BERT boot error region: a Generic Error Status Block (ACPI §18.3.2.7). */
  bootErrorRegion: { paddr: number; bytes: Uint8Array };
  erst?: { actionRegister: number; valueRegister: number; errorLog: { paddr: number; bytes: number } };
  /** Boot errors that did not fit the region. */
  droppedBootErrors: number;
}

export const CREATOR_ID = 'EFKD';
export const CREATOR_REVISION = 1;
/** ERST error log range attributes (Linux drivers/acpi/apei/erst.c): 0x2 non-volatile, 0x4 slow. */
export const ERST_RANGE_NVRAM = 0x2;
export const ERST_RANGE_SLOW = 0x4;
/** Value the ERST EXECUTE_OPERATION writes (QEMU hw/acpi/erst.c uses the same magic). */
export const ERST_EXECUTE_MAGIC = 0x9cn;

const header = (p: FirmwareProfileFields, signature: string, revision: number): SdtHeader => ({
  signature,
  revision,
  oemId: p.oemId,
  oemTableId: p.oemTableId,
  oemRevision: 1,
  creatorId: CREATOR_ID,
  creatorRevision: CREATOR_REVISION,
});

const gas64 = (address: number): GenericAddress => ({
  spaceId: AcpiAddressSpace.SystemMemory,
  bitWidth: 64,
  bitOffset: 0,
  accessSize: 4,
  address: BigInt(address),
});
const ALL64 = 0xffffffffffffffffn;

/**
 * The ERST serialization instructions of a register interface like QEMU's acpi-erst: each action
 * writes its code to an ACTION register, then reads or writes a VALUE register (ACPI §18.5.1).
 */
export function erstInstructions(actionRegister: number, valueRegister: number): ErstEntry[] {
  const act = gas64(actionRegister);
  const val = gas64(valueRegister);
  const e = (action: number, instruction: number, register: GenericAddress, value = 0n, mask = ALL64): ErstEntry => ({
    action,
    instruction,
    flags: 0,
    register,
    value,
    mask,
  });
  const writeAction = (a: number) => e(a, Ins.WriteRegisterValue, act, BigInt(a));
  const readValue = (a: number) => [writeAction(a), e(a, Ins.ReadRegister, val)];
  return [
    writeAction(Act.BeginWrite),
    writeAction(Act.BeginRead),
    writeAction(Act.BeginClear),
    writeAction(Act.End),
    e(Act.SetRecordOffset, Ins.WriteRegister, val),
    writeAction(Act.SetRecordOffset),
    writeAction(Act.ExecuteOperation),
    e(Act.ExecuteOperation, Ins.WriteRegisterValue, val, ERST_EXECUTE_MAGIC),
    writeAction(Act.CheckBusyStatus),
    e(Act.CheckBusyStatus, Ins.ReadRegisterValue, val, 1n, 1n),
    ...readValue(Act.GetCommandStatus),
    ...readValue(Act.GetRecordIdentifier),
    e(Act.SetRecordIdentifier, Ins.WriteRegister, val),
    writeAction(Act.SetRecordIdentifier),
    ...readValue(Act.GetRecordCount),
    writeAction(Act.BeginDummyWrite),
    ...readValue(Act.GetErrorLogAddressRange),
    ...readValue(Act.GetErrorLogAddressRangeLength),
    ...readValue(Act.GetErrorLogAddressRangeAttributes),
    ...readValue(Act.GetExecuteOperationTimings),
  ];
}

/** The BERT region's data entries for the boot errors, and for ERST records when the profile republishes them. */
export function bootErrorEntries(
  p: FirmwareProfileFields,
  errors: readonly { sectionType: string; severity: number; data: Uint8Array }[],
  erst?: ErstStoreState,
): GenericErrorDataEntry[] {
  const entries: GenericErrorDataEntry[] = errors.map((e) => ({
    sectionType: e.sectionType,
    severity: e.severity,
    revision: GENERIC_ERROR_DATA_REVISION,
    validationBits: 0,
    flags: 0,
    fruId: NULL_GUID,
    fruText: '',
    timestamp: 0n,
    data: e.data,
  }));
  if (p.bertFromErst && erst) {
    for (const r of erst.records) {
      try {
        const rec = decodeCperRecord(r.bytes);
        for (const s of rec.sections) {
          entries.push({
            sectionType: s.sectionType,
            severity: s.severity,
            revision: GENERIC_ERROR_DATA_REVISION,
            validationBits: 0,
            flags: s.flags & 0xff,
            fruId: s.fruId,
            fruText: s.fruText,
            timestamp: 0n,
            data: s.body,
          });
        }
      } catch (e) {
        if (!(e instanceof FormatError)) throw e;
      }
    }
  }
  return entries;
}

function region(map: readonly MemoryDescriptor[], type: number, what: string): { start: number; end: number } {
  // The largest region of the type (a measured map has several: OVMF's work-area NVS is 8 KiB).
  const d = map.filter((x) => x.type === type).sort((a, b) => b.pages - a.pages || a.start - b.start)[0];
  if (!d) throw new SimulationError(`the memory map has no ${what} region for the ACPI tables`);
  return { start: d.start, end: d.start + d.pages * PAGE_SIZE };
}

const align16 = (n: number) => Math.ceil(n / 16) * 16;

/**
 * Builds the tables a profile installs on a machine with `map`: RSDP → XSDT → (SPCR, BERT, ERST),
 * in the ACPI reclaim region; the ERST registers, the BERT boot error region and the ERST error
 * log range in ACPI NVS memory.
 */
export function buildAcpiTables(p: FirmwareProfileFields, map: readonly MemoryDescriptor[], errors: GenericErrorDataEntry[]): AcpiBuild {
  const reclaim = region(map, EfiMemoryType.AcpiReclaim, 'ACPI reclaim');
  const nvs = region(map, EfiMemoryType.AcpiNvs, 'ACPI NVS');
  const actionRegister = nvs.start;
  const valueRegister = nvs.start + 8;
  const logBytes = p.erstRecordBytes;
  const logStart = Math.floor((nvs.end - logBytes) / PAGE_SIZE) * PAGE_SIZE;
  const bertStart = nvs.start + PAGE_SIZE;
  const bertMax = logStart - bertStart;
  if (bertMax < GENERIC_ERROR_STATUS_SIZE) throw new SimulationError('ACPI NVS is too small for the ERST error log and the BERT region');

  // As many boot errors as the region holds, oldest first.
  let kept = errors;
  const size = (es: GenericErrorDataEntry[]) =>
    GENERIC_ERROR_STATUS_SIZE + es.reduce((s, e) => s + GENERIC_ERROR_DATA_ENTRY_SIZE_V300 + e.data.length, 0);
  while (kept.length && size(kept) > bertMax) kept = kept.slice(0, -1);
  const severities = kept.map((e) => e.severity);
  const block = encodeGenericErrorStatusBlock({
    blockStatus: kept.length ? genericErrorBlockStatus(kept) : 0,
    errorSeverity: kept.length
      ? severities.includes(CperSeverity.Fatal)
        ? CperSeverity.Fatal
        : Math.min(...severities)
      : CperSeverity.Informational,
    rawData: new Uint8Array(0),
    entries: kept,
  });

  const bodies: { signature: string; fileName: string; revision: number; body: Uint8Array }[] = [];
  if (p.serial) {
    // COM1 as QEMU and most PCs have it: 16550 at I/O 0x3f8, IRQ 4, 115200 8n1, VT100.
    bodies.push({
      signature: 'SPCR',
      fileName: 'spcr.dat',
      revision: 2,
      body: encodeSpcrBody({
        interfaceType: 0,
        baseAddress: { spaceId: AcpiAddressSpace.SystemIo, bitWidth: 8, bitOffset: 0, accessSize: 1, address: 0x3f8n },
        interruptType: 1,
        irq: 4,
        globalSystemInterrupt: 4,
        baudRate: 7,
        parity: 0,
        stopBits: 1,
        flowControl: 0,
        terminalType: 0,
        pciDeviceId: 0xffff,
        pciVendorId: 0xffff,
      }),
    });
  }
  if (p.bert)
    bodies.push({
      signature: 'BERT',
      fileName: 'bert.dat',
      revision: 1,
      body: encodeBertBody({ regionLength: block.length, regionAddress: BigInt(bertStart) }),
    });
  if (p.erst)
    bodies.push({
      signature: 'ERST',
      fileName: 'erst.dat',
      revision: 1,
      body: encodeErstBody({ serializationHeaderSize: 48, entries: erstInstructions(actionRegister, valueRegister) }),
    });

  const rsdpAt = reclaim.start;
  const xsdtAt = rsdpAt + 64;
  let next = align16(xsdtAt + 36 + 8 * bodies.length);
  const placed = bodies.map((b) => {
    const bytes = encodeSdt({ header: header(p, b.signature, b.revision), body: b.body });
    const t: AcpiTable = { signature: b.signature, fileName: b.fileName, paddr: next, bytes };
    next = align16(next + bytes.length);
    return t;
  });
  if (next > reclaim.end) throw new SimulationError('the ACPI tables do not fit the ACPI reclaim region');
  const xsdt: AcpiTable = {
    signature: 'XSDT',
    fileName: 'xsdt.dat',
    paddr: xsdtAt,
    bytes: encodeSdt({ header: header(p, 'XSDT', 1), body: encodeXsdtBody(placed.map((t) => BigInt(t.paddr))) }),
  };
  const rsdp: AcpiTable = {
    signature: 'RSD PTR ',
    fileName: 'rsdp.dat',
    paddr: rsdpAt,
    bytes: encodeRsdp({ oemId: p.oemId, revision: 2, rsdtAddress: 0, xsdtAddress: BigInt(xsdtAt) }),
  };
  return {
    tables: [rsdp, xsdt, ...placed],
    rsdp: rsdpAt,
    bootErrorRegion: { paddr: bertStart, bytes: block },
    erst: p.erst ? { actionRegister, valueRegister, errorLog: { paddr: logStart, bytes: logBytes } } : undefined,
    droppedBootErrors: errors.length - kept.length,
  };
}
