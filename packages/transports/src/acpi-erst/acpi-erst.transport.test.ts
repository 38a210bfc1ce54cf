import {
  CperSeverity,
  CPER_FLAG_PREVERR,
  CPER_HEADER_SIZE,
  CPER_SECTION_DESCRIPTOR_SIZE,
  decodeBertBody,
  decodeCperRecord,
  decodeErstBody,
  decodeGenericErrorStatusBlock,
  decodeSdt,
  GiB,
  EFIKDUMP_CPER_SECTION_GUID,
  decodeHandoffRecord,
  verifyRecordMac,
} from '@efikdump/core';
import { cleanWarmReset, crashAndReset, designFor, machine, warnings, type Sim } from '../testing/harness';
import type { AcpiErstTransport } from './acpi-erst.transport';
import { encodeHandoffCper, handoffSectionOf, HANDOFF_FRU_TEXT } from './handoff-cper.codec';

const sim = (seed: number, opts: { profile?: string; firmware?: Record<string, unknown> } = {}): Sim =>
  machine(designFor('acpi-erst', { profile: opts.profile ?? 'server' }), seed, 1 * GiB, { firmware: opts.firmware });

const erstRecords = (s: Sim) => {
  const out: Uint8Array[] = [];
  let id: bigint | undefined;
  for (;;) {
    const r = s.services.acpi.erstRead(s.ctx, id);
    if (r.status !== 0) return out;
    out.push(r.record!);
    if (r.nextId === 0xffffffffffffffffn) return out;
    id = r.nextId;
  }
};

describe('handoff CPER record', () => {
  test('one section of our type after a valid 128-byte header: 200 bytes of overhead, fatal, PREVERR', () => {
    const body = new Uint8Array(300).fill(7);
    const cper = encodeHandoffCper(body, '0123456789abcdef', 1767225690);
    expect(cper.length).toBe(CPER_HEADER_SIZE + CPER_SECTION_DESCRIPTOR_SIZE + 300);
    const rec = decodeCperRecord(cper);
    expect(rec).toMatchObject({ severity: CperSeverity.Fatal, flags: CPER_FLAG_PREVERR, recordId: 0x0123456789abcdefn, validationBits: 2 });
    expect(rec.sections).toHaveLength(1);
    expect(rec.sections[0]).toMatchObject({
      sectionType: EFIKDUMP_CPER_SECTION_GUID,
      severity: CperSeverity.Fatal,
      flags: 1,
      fruText: HANDOFF_FRU_TEXT,
      body,
    });
    expect(handoffSectionOf(cper, 'x')).toEqual(body);
    // 2026-01-01T00:01:30Z in UEFI's BCD layout: sec 0x30, min 0x01, hour 0, precise, day 1, month 1, year 0x26, century 0x20.
    expect(rec.timestamp).toBe(0x2026010101000130n);
  });
});

describe('AcpiErstTransport', () => {
  it("on a server: a CPER record through ERST at panic, found in the next boot's BERT boot error region", async () => {
    const s = sim(1);
    const secret = await crashAndReset(s);
    const stored = erstRecords(s);
    expect(stored).toHaveLength(1);
    const cper = decodeCperRecord(stored[0]);
    const body = cper.sections[0].body;
    expect(verifyRecordMac(body, secret.key)).toBe(true);
    expect(s.ctx.metrics).toMatchObject({
      handoffBytes: body.length,
      handoffStoredBytes: stored[0].length,
      handoffFailed: false,
      handoffPersistUs: 5000,
    });
    const d = s.transport.discover(s.ctx);
    expect(d).toEqual({
      found: true,
      candidate: { source: 'acpi-erst', location: expect.stringMatching(/^BERT boot error region 0x[0-9a-f]+ entry 0$/), record: body },
    });
    // The same region, read with core's codecs from the tables in memory.
    const bert = s.services.acpi.tables(s.ctx).find((t) => t.signature === 'BERT')!;
    const region = decodeBertBody(decodeSdt(bert.bytes, {}, 'BERT').body);
    const bytes = new Uint8Array(region.regionLength);
    s.ctx.machine.memory.read(Number(region.regionAddress), bytes);
    const block = decodeGenericErrorStatusBlock(bytes);
    expect(block.errorSeverity).toBe(CperSeverity.Fatal);
    expect(block.entries.map((e) => e.sectionType)).toEqual([EFIKDUMP_CPER_SECTION_GUID]);
    expect(decodeHandoffRecord(block.entries[0].data, 'bert').info.bootNonce).toBe(secret.nonce);
  });

  it('without republishing in BERT, the stub reads it back through ERST', async () => {
    const s = sim(2, { firmware: { bertFromErst: false } });
    await crashAndReset(s);
    const t = s.transport as AcpiErstTransport;
    expect(t.discoverInBert(s.ctx)).toEqual({ found: false, reason: expect.stringMatching(/holds 0 entries/) });
    const d = s.transport.discover(s.ctx);
    expect(d.found && d.candidate.location).toMatch(/^ERST record \d+$/);
  });

  it('on OVMF (no ERST): a clear failure, never a throw', async () => {
    const s = sim(3, { profile: 'ovmf' });
    await crashAndReset(s);
    expect(warnings(s.ctx, 'handoff-prepare').join()).toMatch(/no ERST table \(profile ovmf\)/);
    expect(s.ctx.state.handoff?.failure).toBe('acpi-erst: the firmware publishes no ERST table (profile ovmf)');
    expect(s.transport.discover(s.ctx)).toEqual({
      found: false,
      reason: 'the firmware publishes no BERT; the firmware publishes no ERST table (profile ovmf)',
    });
  });

  it('an error log range too small for the record: the ERST status is named', async () => {
    const s = sim(4, { firmware: { erstRecordBytes: 512 } });
    await crashAndReset(s);
    expect(s.ctx.state.handoff?.failure).toMatch(/ERST write of a \d+-byte CPER record returned status 3 \(Failed\)/);
  });

  it("consume() clears the store: the next boot's BERT no longer carries the record", async () => {
    const s = sim(5);
    await crashAndReset(s);
    expect(s.transport.discover(s.ctx).found).toBe(true);
    s.transport.consume(s.ctx);
    expect(erstRecords(s)).toEqual([]);
    await cleanWarmReset(s);
    expect(s.transport.discover(s.ctx).found).toBe(false);
  });

  it('artifacts(): the CPER record, the record, BERT and ERST tables and the boot error region', async () => {
    const s = sim(6);
    await crashAndReset(s);
    const files = new Map(s.transport.artifacts!(s.ctx).map((f) => [f.path, f.bytes]));
    expect([...files.keys()].sort()).toEqual([
      'acpi/bert.dat',
      'acpi/erst.dat',
      'boot-error-region.bin',
      'cper-record.bin',
      'handoff-record.bin',
    ]);
    expect(handoffSectionOf(files.get('cper-record.bin')!, 'cper')).toEqual(files.get('handoff-record.bin'));
    expect(decodeErstBody(decodeSdt(files.get('acpi/erst.dat')!, {}, 'ERST').body).entries.length).toBeGreaterThan(10);
    expect(decodeGenericErrorStatusBlock(files.get('boot-error-region.bin')!).entries[0].data).toEqual(files.get('handoff-record.bin'));
  });
});
