import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeCperRecord, decodeSdt } from '@efikdump/core';
import { decodeHandoffFdt, decodeHandoffRecord, decodeZone, EFIKDUMP_CPER_SECTION_GUID } from '@efikdump/transports';
import { main } from '../src/main';
import { keepsRamScenario, tempDir } from './helpers';
import { capture } from './in-process';

// Issue 4: every handoff design completes a verified dump; --artifacts writes each transport's files.

async function run(args: string[]) {
  const io = capture();
  const code = await main(['run', ...args, '--json'], io);
  return { code, result: JSON.parse(io.stdout.join('\n')), stderr: io.stderr.join('\n') };
}

const DESIGNS: [string, string, string[]][] = [
  ['efi-warm-reserved-memory', 'reserved-memory', ['handoff-record.bin', 'handoff.json', 'reserved-zone.bin']],
  ['efi-warm-efivar', 'efi-variable', ['efivarfs', 'handoff-record.bin', 'handoff.json']],
  ['efi-warm-acpi-erst', 'acpi-erst', ['acpi', 'boot-error-region.bin', 'cper-record.bin', 'handoff-record.bin', 'handoff.json']],
  ['efi-warm-fdt', 'fdt', ['handoff-record.bin', 'handoff.dtb', 'handoff.json']],
];

/**
 * These tests are about the transports and their files, so they run on firmware that keeps RAM (a
 * scenario that empties the profile's scratch ranges): on measured OVMF a plain handoff design loses
 * VMCOREINFO to POST (measured-firmware.test.ts).
 */
const scenarios = tempDir('transport-scenario');
const KEEPS_RAM = keepsRamScenario(scenarios.dir);
afterAll(() => scenarios.cleanup());

describe.each(DESIGNS)('efikdump run --design %s', (design, transport, files) => {
  const tmp = tempDir(`transport-${transport}`);
  const dir = join(tmp.dir, 'artifacts');
  const out = join(tmp.dir, 'dump.vmcore');
  const truth = join(tmp.dir, 'truth.json');
  let result: {
    outcome: string;
    metrics: Record<string, unknown>;
    artifacts: Record<string, string>;
    timeline: { stage: string; message: string }[];
  };
  beforeAll(async () => {
    const r = await run([
      '--design',
      design,
      '--scenario',
      KEEPS_RAM,
      '--memory',
      '1GiB',
      '--seed',
      '3',
      '--out',
      out,
      '--truth',
      truth,
      '--artifacts',
      dir,
      '--truth-pages',
      '256',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    result = r.result;
  });
  afterAll(() => tmp.cleanup());

  test('completes a dump that verify accepts, through this transport', async () => {
    expect(result.outcome).toBe('dump-complete');
    expect(result.metrics).toMatchObject({ handoffTransport: transport, handoffFailed: false, captureBoots: 1, handoffRejectedForged: 0 });
    expect(result.timeline.filter((e) => e.stage === 'stub').map((e) => e.message)).toContainEqual(
      expect.stringMatching(/^crashed boot detected/),
    );
    const io = capture();
    expect(await main(['verify', out, '--truth', truth], io)).toBe(0);
  });

  test("--artifacts writes the transport's files atomically (nothing else left beside them)", () => {
    expect(result.artifacts.handoff).toBe(dir);
    expect(readdirSync(dir).sort()).toEqual(files);
    expect(readdirSync(tmp.dir).sort()).toEqual(['artifacts', 'dump.vmcore', 'truth.json']);
    const summary = JSON.parse(readFileSync(join(dir, 'handoff.json'), 'utf8'));
    expect(summary).toMatchObject({
      format: 'efikdump-handoff-artifacts/1',
      transport,
      stub: { boot: 2, crashedBoot: true, rejected: [] },
    });
    const record = decodeHandoffRecord(new Uint8Array(readFileSync(join(dir, 'handoff-record.bin'))), 'handoff-record.bin');
    expect(record.reason).toBe('sysrq: Trigger a crash');
    expect(record.info.bootNonce).toBe(summary.persisted.resetData.split(' ').pop());
  });

  test('the files decode with our codecs', () => {
    const bin = (f: string) => new Uint8Array(readFileSync(join(dir, f)));
    const record = bin('handoff-record.bin');
    if (transport === 'reserved-memory') expect(decodeZone(bin('reserved-zone.bin'), 'zone').data).toEqual(record);
    if (transport === 'fdt') expect(decodeHandoffFdt(bin('handoff.dtb'), 'dtb').encoded).toEqual(record);
    if (transport === 'acpi-erst') {
      expect(decodeCperRecord(bin('cper-record.bin')).sections[0]).toMatchObject({ sectionType: EFIKDUMP_CPER_SECTION_GUID, body: record });
      expect(readdirSync(join(dir, 'acpi')).sort()).toEqual(['bert.dat', 'erst.dat']);
      for (const t of ['bert', 'erst']) expect(decodeSdt(bin(`acpi/${t}.dat`), {}, t.toUpperCase()).header.signature).toBe(t.toUpperCase());
    }
    if (transport === 'efi-variable') {
      const [file] = readdirSync(join(dir, 'efivarfs'));
      expect(file).toMatch(/^EfikdumpHandoff0000-[0-9a-f-]{36}$/);
      expect(bin(`efivarfs/${file}`).subarray(4)).toEqual(record);
    }
  });
});

describe('a transport that cannot store the record says so, and the run ends without a dump', () => {
  test('efi-warm-efivar on a nearly full store: EFI_OUT_OF_RESOURCES in the outcome, the metrics and the artifacts', async () => {
    const tmp = tempDir('efivar-full');
    try {
      const dir = join(tmp.dir, 'a');
      const { code, result } = await run([
        '--design',
        'efi-warm-efivar',
        '--scenario',
        'nvram-nearly-full',
        '--memory',
        '1GiB',
        '--artifacts',
        dir,
      ]);
      expect(code).toBe(1);
      expect(result.outcome).toBe('no-dump');
      expect(result.reason).toMatch(
        /^the stub booted normally: no EfikdumpHandoff0000 variable under [0-9a-f-]+ \(the handoff was never stored: efi-variable: SetVariable\(EfikdumpHandoff0000\) returned EFI_OUT_OF_RESOURCES: the variable store is full/,
      );
      expect(result.metrics).toMatchObject({ handoffFailed: true, handoffFailure: expect.stringContaining('EFI_OUT_OF_RESOURCES') });
      expect(result.timeline).toContainEqual(
        expect.objectContaining({
          stage: 'handoff-persist',
          kind: 'warn',
          message: expect.stringMatching(/^handoff not stored: efi-variable: .*EFI_OUT_OF_RESOURCES/),
        }),
      );
      expect(readdirSync(dir)).toEqual(['handoff.json']);
      expect(JSON.parse(readFileSync(join(dir, 'handoff.json'), 'utf8')).persisted.failure).toMatch(/EFI_OUT_OF_RESOURCES/);
    } finally {
      tmp.cleanup();
    }
  });

  test('efi-warm-acpi-erst on OVMF (a design file naming the ovmf profile): no ERST, named', async () => {
    const tmp = tempDir('erst-ovmf');
    try {
      const file = join(tmp.dir, 'd.json');
      const doc = JSON.parse(readFileSync(join(__dirname, '../designs/efi-warm-acpi-erst.json'), 'utf8'));
      writeFileSync(file, JSON.stringify({ ...doc, firmware: { profile: 'ovmf' } }));
      const { result } = await run(['--design', file, '--memory', '1GiB']);
      expect(result.outcome).toBe('no-dump');
      expect(result.reason).toMatch(/the handoff was never stored: acpi-erst: the firmware publishes no ERST table \(profile ovmf\)/);
    } finally {
      tmp.cleanup();
    }
  });

  test('the same seed writes the same artifacts', async () => {
    const tmp = tempDir('artifacts-determinism');
    try {
      for (const n of ['x', 'y'])
        await run(['--design', 'efi-warm-fdt', '--memory', '512MiB', '--seed', '9', '--artifacts', join(tmp.dir, n)]);
      for (const f of ['handoff.dtb', 'handoff-record.bin', 'handoff.json'])
        expect(readFileSync(join(tmp.dir, 'x', f))).toEqual(readFileSync(join(tmp.dir, 'y', f)));
      expect(existsSync(join(tmp.dir, 'x'))).toBe(true);
    } finally {
      tmp.cleanup();
    }
  });
});
