import {
  CPER_GUIDS,
  CperSeverity,
  decodeBertBody,
  decodeErstBody,
  decodeGenericErrorStatusBlock,
  decodeRsdp,
  decodeSdt,
  decodeXsdtBody,
  encodeCperRecord,
  ErstAction,
  ErstStatus,
  ERST_NO_RECORD_ID,
  GiB,
  NULL_GUID,
  parseFirmwareProfile,
  readJsonFile,
} from '@efikdump/core';
import { join } from 'node:path';
import { buildMemoryMap } from '../memory-map/platform-memory-map';
import { PROFILES_DIR } from '../profiles/firmware-profiles';
import { bootErrorEntries, buildAcpiTables } from './acpi-tables';
import { emptyErstStore, erstClear, erstRead, erstWrite } from './erst-store';

const server = parseFirmwareProfile(readJsonFile(join(PROFILES_DIR, 'server.json')), 'server');
const record = (id: bigint, text: string) =>
  encodeCperRecord({
    revision: 0x101,
    severity: CperSeverity.Fatal,
    validationBits: 0,
    timestamp: 0n,
    platformId: NULL_GUID,
    partitionId: NULL_GUID,
    creatorId: CPER_GUIDS.creatorLinuxPstore,
    notificationType: CPER_GUIDS.notifyMce,
    recordId: id,
    flags: 2,
    persistenceInfo: 0n,
    sections: [
      {
        revision: 0x100,
        validationBits: 0,
        flags: 1,
        sectionType: CPER_GUIDS.sectionDmesg,
        fruId: NULL_GUID,
        severity: CperSeverity.Fatal,
        fruText: '',
        body: new TextEncoder().encode(text),
      },
    ],
  });

describe('ACPI 6.5 §5.2.5 RSDP → XSDT → tables', () => {
  it('chains from the RSDP through the XSDT to every table, each with a valid checksum', () => {
    const build = buildAcpiTables(server, buildMemoryMap(4 * GiB), []);
    const byAddr = new Map(build.tables.map((t) => [t.paddr, t]));
    const rsdp = decodeRsdp(build.tables[0].bytes);
    const xsdt = byAddr.get(Number(rsdp.xsdtAddress))!;
    const entries = decodeXsdtBody(decodeSdt(xsdt.bytes, {}, 'XSDT').body);
    expect(entries.map((a) => byAddr.get(Number(a))!.signature)).toEqual(['SPCR', 'BERT', 'ERST']);
    for (const t of build.tables.slice(1)) expect(decodeSdt(t.bytes).header.signature).toBe(t.signature);
    const map = buildMemoryMap(4 * GiB);
    const reclaim = map.find((d) => d.type === 9)!;
    for (const t of build.tables)
      expect(t.paddr >= reclaim.start && t.paddr + t.bytes.length <= reclaim.start + reclaim.pages * 4096).toBe(true);
  });

  it('omits SPCR without a serial port and BERT/ERST where the profile has none', () => {
    const tables = buildAcpiTables({ ...server, serial: false, bert: false, erst: false }, buildMemoryMap(GiB), []).tables.map(
      (t) => t.signature,
    );
    expect(tables).toEqual(['RSD PTR ', 'XSDT']);
  });
});

describe('ACPI 6.5 §18.3.1 BERT boot error region', () => {
  it("holds the boot errors, and the previous boot's ERST records when the profile republishes them", () => {
    const erst = emptyErstStore();
    expect(erstWrite(erst, server, record(7n, 'Kernel panic - not syncing')).status).toBe(ErstStatus.Success);
    const build = buildAcpiTables(
      server,
      buildMemoryMap(4 * GiB),
      bootErrorEntries(server, [{ sectionType: CPER_GUIDS.sectionMce, severity: 2, data: new Uint8Array(16) }], erst),
    );
    const bert = decodeBertBody(decodeSdt(build.tables.find((t) => t.signature === 'BERT')!.bytes).body);
    expect(Number(bert.regionAddress)).toBe(build.bootErrorRegion.paddr);
    expect(bert.regionLength).toBe(build.bootErrorRegion.bytes.length);
    const block = decodeGenericErrorStatusBlock(build.bootErrorRegion.bytes);
    expect(block.entries.map((e) => e.sectionType)).toEqual([CPER_GUIDS.sectionMce, CPER_GUIDS.sectionDmesg]);
    expect(new TextDecoder().decode(block.entries[1].data)).toBe('Kernel panic - not syncing');
    expect(block.blockStatus & 0x3).toBe(0x3);
    expect((block.blockStatus >> 4) & 0x3ff).toBe(2);
  });
  it('is an empty block (BlockStatus 0) when there was no error', () => {
    const b = decodeGenericErrorStatusBlock(buildAcpiTables(server, buildMemoryMap(GiB), []).bootErrorRegion.bytes);
    expect(b).toMatchObject({ blockStatus: 0, entries: [] });
  });
});

describe('ACPI 6.5 §18.5 ERST', () => {
  it('describes every action through the action and value registers', () => {
    const build = buildAcpiTables(server, buildMemoryMap(GiB), []);
    const erst = decodeErstBody(decodeSdt(build.tables.find((t) => t.signature === 'ERST')!.bytes).body);
    expect(erst.serializationHeaderSize).toBe(48);
    const actions = new Set(erst.entries.map((e) => e.action));
    for (const a of Object.values(ErstAction)) expect(actions.has(a)).toBe(true);
    expect(new Set(erst.entries.map((e) => Number(e.register.address)))).toEqual(
      new Set([build.erst!.actionRegister, build.erst!.valueRegister]),
    );
  });

  it("stores CPER records by RecordID in the firmware's persistent store, with its capacity and statuses", () => {
    const s = emptyErstStore();
    expect(erstRead(s, server)).toMatchObject({ status: ErstStatus.RecordStoreEmpty });
    expect(erstWrite(s, server, record(5n, 'a'))).toMatchObject({ status: ErstStatus.Success, id: 5n, costUs: 5000 });
    expect(erstWrite(s, server, record(6n, 'b')).status).toBe(ErstStatus.Success);
    expect(erstWrite(s, server, record(5n, 'c')).status).toBe(ErstStatus.Success);
    expect(s.records.map((r) => r.id)).toEqual([6n, 5n]);
    expect(erstRead(s, server)).toMatchObject({ status: ErstStatus.Success, id: 6n, nextId: 5n });
    expect(erstRead(s, server, 5n)).toMatchObject({ status: ErstStatus.Success, nextId: ERST_NO_RECORD_ID });
    expect(erstRead(s, server, 9n).status).toBe(ErstStatus.RecordNotFound);
    expect(erstWrite(s, server, new Uint8Array(300)).status).toBe(ErstStatus.Failed);
    expect(erstWrite(s, server, record(8n, 'x'.repeat(9000))).status).toBe(ErstStatus.Failed);
    expect(erstClear(s, server, 6n).status).toBe(ErstStatus.Success);
    expect(erstClear(s, server, 6n).status).toBe(ErstStatus.RecordNotFound);
    let last = ErstStatus.Success as number;
    for (let i = 0; i < 20 && last === ErstStatus.Success; i++)
      last = erstWrite(s, server, record(BigInt(100 + i), 'y'.repeat(7000))).status;
    expect(last).toBe(ErstStatus.NotEnoughSpace);
    expect(erstWrite(emptyErstStore(), { ...server, erst: false }, record(1n, 'z')).status).toBe(ErstStatus.HardwareNotAvailable);
  });
});
