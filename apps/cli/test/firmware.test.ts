import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeRsdp, decodeSdt } from '@efikdump/core';
import { decodeEfivarfsFile, decodeVariableStoreFv, encodeVariableStoreFv } from '@efikdump/firmware-uefi';
import { main } from '../src/main';
import { tempDir } from './helpers';
import { capture, runJson } from './in-process';

describe('efikdump firmware export', () => {
  test.each(['ovmf', 'server', 'laptop'])(
    '--profile %s writes tables that decode with valid checksums, an efivarfs directory, and a .fd our reader round-trips',
    async (profile) => {
      const tmp = tempDir('fw-export');
      try {
        const [a, v, fd, rsdp] = ['a', 'v', 'vars.fd', 'rsdp.bin'].map((f) => join(tmp.dir, f));
        const io = capture();
        expect(await main(['firmware', 'export', '--profile', profile, '--acpi', a, '--vars', v, '--fd', fd, '--rsdp', rsdp], io)).toBe(0);
        expect(io.stderr).toEqual([]);
        const tables = readdirSync(a).sort();
        expect(tables).toContain('xsdt.dat');
        for (const t of tables)
          expect(decodeSdt(new Uint8Array(readFileSync(join(a, t))), { file: t }).header.signature.toLowerCase()).toBe(t.slice(0, 4));
        expect(decodeRsdp(new Uint8Array(readFileSync(rsdp))).revision).toBe(2);
        const files = readdirSync(v);
        expect(files.length).toBeGreaterThan(5);
        for (const f of files) decodeEfivarfsFile(f, new Uint8Array(readFileSync(join(v, f))), f);
        const bytes = new Uint8Array(readFileSync(fd));
        const volume = decodeVariableStoreFv(bytes, fd);
        expect(Buffer.from(encodeVariableStoreFv(volume)).equals(Buffer.from(bytes))).toBe(true);
        const live = volume.records.filter((r) => r.state === 0x3f).map((r) => `${r.name}-${r.guid}`);
        for (const f of files) expect(live).toContain(f);
        // Nothing left behind but the outputs.
        expect(readdirSync(tmp.dir).sort()).toEqual(['a', 'rsdp.bin', 'v', 'vars.fd']);
      } finally {
        tmp.cleanup();
      }
    },
  );

  test("the server store has 32-byte headers, and ovmf's is authenticated like Debian's OVMF_VARS", async () => {
    const tmp = tempDir('fw-format');
    try {
      for (const [profile, format] of [
        ['server', 'plain'],
        ['ovmf', 'authenticated'],
      ]) {
        const fd = join(tmp.dir, `${profile}.fd`);
        expect(await main(['firmware', 'export', '--profile', profile, '--fd', fd], capture())).toBe(0);
        expect(decodeVariableStoreFv(new Uint8Array(readFileSync(fd))).format).toBe(format);
      }
    } finally {
      tmp.cleanup();
    }
  });

  test('firmware list reads our volume and our efivarfs directory', async () => {
    const tmp = tempDir('fw-list');
    try {
      const fd = join(tmp.dir, 'x.fd');
      const v = join(tmp.dir, 'v');
      await main(['firmware', 'export', '--profile', 'server', '--fd', fd, '--vars', v], capture());
      const a = capture();
      expect(await main(['firmware', 'list', '--fd', fd, '--json'], a)).toBe(0);
      const names = JSON.parse(a.stdout.join('\n')).map((r: { name: string }) => r.name);
      expect(names).toEqual(expect.arrayContaining(['BootOrder', 'MTC', 'MemoryOverwriteRequestControl', 'PlatformData0000']));
      const all = capture();
      await main(['firmware', 'list', '--fd', fd, '--all'], all);
      expect(all.stdout.join('\n')).toMatch(/PlatformHistory0000 .*\(state 0x3d\)/);
      const b = capture();
      expect(await main(['firmware', 'list', '--vars', v], b)).toBe(0);
      expect(b.stdout[0]).toMatch(/efivarfs, 8 variables/);
    } finally {
      tmp.cleanup();
    }
  });

  test.each<[string, string[], number, RegExp]>([
    [
      'an unknown profile',
      ['firmware', 'export', '--profile', 'mainframe', '--fd', '/tmp/x.fd'],
      2,
      /^error: --profile: Unknown firmware profile: mainframe \(known: ideal, laptop, ovmf, ovmf-measured, ovmf-secboot, server\)$/,
    ],
    ['nothing to write', ['firmware', 'export', '--profile', 'ovmf'], 2, /^error: --acpi: nothing to write/],
    [
      'an unknown subcommand',
      ['firmware', 'flash'],
      2,
      /^error: firmware: unknown subcommand "flash" for "efikdump firmware" \(known: export, list, profiles\)$/,
    ],
    ['a file that is not a volume', ['firmware', 'list', '--fd', '/etc/hostname'], 3, /^error: \/etc\/hostname:0x[0-9a-f]+: /],
  ])('%s is one error line and an exit code', async (_n, argv, code, line) => {
    const io = capture();
    expect(await main(argv, io)).toBe(code);
    expect(io.stderr[0]).toMatch(line);
  });

  test('a scenario with an ill-typed firmware field names its file and the field', async () => {
    const tmp = tempDir('fw-bad-scenario');
    try {
      const file = join(tmp.dir, 'bad.json');
      writeFileSync(file, JSON.stringify({ format: 'efikdump-scenario/1', name: 'bad', description: 'x', firmware: { serial: 'no' } }));
      const io = capture();
      expect(await main(['run', '--scenario', file], io)).toBe(2);
      expect(io.stderr[0]).toBe(`error: ${file}:firmware.serial: expected true or false, found "no"`);
      writeFileSync(file, JSON.stringify({ format: 'efikdump-scenario/1', name: 'bad', description: 'x', firmware: { nvramBytesUsd: 1 } }));
      const io2 = capture();
      expect(await main(['run', '--scenario', file], io2)).toBe(2);
      expect(io2.stderr[0]).toMatch(new RegExp(`^error: ${file}:firmware.nvramBytesUsd: expected one of the fields `));
    } finally {
      tmp.cleanup();
    }
  });
});

describe('efikdump run --json: the firmware in the result', () => {
  test('carries the retention map, NVRAM bytes written and erase counts, and the same seed gives the same map', async () => {
    const args = ['--design', 'efi-warm-with-firmware-retention', '--scenario', 'healthy', '--memory', '2GiB', '--seed', '11'];
    const { result } = await runJson(args);
    const fw = result.firmware;
    expect(fw.profile).toBe('ovmf');
    expect(fw.retention.map((r: { policy: string }) => r.policy)).toEqual(['mor', 'firmware-scratch', 'ecc-reinit', 'decay']);
    const scratch = fw.retention[1];
    // OVMF's measured loader-entry ranges: the low one where it decompresses its firmware volumes.
    expect(scratch.changedRanges[0]).toEqual([0x1000000, 0x16e1000]);
    expect(scratch.changedPages).toBeGreaterThan(0);
    expect(result.metrics.retentionChangedPages).toBe(scratch.changedPages);
    expect(result.metrics.nvramBytesWritten).toBe(fw.nvram.bytesWritten);
    expect(fw.nvram.bytesWritten).toBeGreaterThan(0);
    expect(Array.isArray(fw.nvram.eraseCounts)).toBe(true);
    expect(result.metrics.nvramEraseCount).toBe(fw.nvram.eraseCounts.reduce((s: number, n: number) => s + n, 0));
    expect(result.metrics.consoleSeen).toBe(true);
    expect(fw.acpi.tables.map((t: { signature: string }) => t.signature)).toEqual(['RSD PTR ', 'XSDT', 'SPCR']);
    const again = await runJson(args);
    expect(JSON.stringify(again.result.firmware.retention)).toBe(JSON.stringify(fw.retention));
  });

  test('the default design on the default (measured) firmware loses VMCOREINFO to POST, as the real run did without a copy', async () => {
    const { result } = await runJson(['--memory', '1GiB', '--seed', '2']);
    expect(result.outcome).toBe('no-dump');
    expect(result.reason).toMatch(/VMCOREINFO note in old memory is gone/);
    const policies = result.firmware.retention.map((r: { policy: string; changedPages: number }) => [r.policy, r.changedPages > 0]);
    expect(policies).toEqual([
      ['firmware-scratch', true],
      ['mor', false],
      ['ecc-reinit', false],
      ['decay', false],
    ]);
  });

  test.each<[string, string, string, RegExp | undefined]>([
    ['mor-set', 'efi-warm-with-firmware-retention', 'no-dump', /^memory scrubbed by firmware \(MOR ClearMemory was set\)/],
    [
      'ecc-scrub-on-reset',
      'efi-warm-with-firmware-retention',
      'no-dump',
      /^memory scrubbed by firmware \(ECC initialisation writes all RAM\)/,
    ],
    ['firmware-scrubs-low-memory', 'efi-warm-with-firmware-retention', 'dump-corrupt', /sampled pages differ/],
    ['runtime-lock-busy', 'efi-warm-reserved-memory-ideal-firmware', 'dump-complete', undefined],
    ['nvram-nearly-full', 'efi-warm-reserved-memory-ideal-firmware', 'dump-complete', undefined],
  ])('scenario %s with %s ends %s', async (scenario, design, outcome, reason) => {
    const { result } = await runJson(['--design', design, '--scenario', scenario, '--memory', '1GiB']);
    expect(result.outcome).toBe(outcome);
    if (reason) expect(result.reason).toMatch(reason);
    if (scenario === 'runtime-lock-busy')
      expect(result.timeline.some((e: { message: string }) => /could not get exclusive access to the firmware/.test(e.message))).toBe(true);
    if (scenario === 'nvram-nearly-full') expect(result.firmware.nvram.reclaims).toBeGreaterThan(0);
  });

  test('a 1 TiB run with every retention policy stays within memory', async () => {
    const before = process.memoryUsage().rss;
    const { result } = await runJson([
      '--design',
      'efi-warm-with-firmware-retention',
      '--scenario',
      'ecc-scrub-on-reset',
      '--memory',
      '1TiB',
      '--cpus',
      '8',
    ]);
    expect(result.outcome).toBe('no-dump');
    expect(result.firmware.retention[2].changedPages).toBe(result.ramBytes / 4096 - 96);
    expect(process.memoryUsage().rss - before).toBeLessThan(512 * 2 ** 20);
  });
});
