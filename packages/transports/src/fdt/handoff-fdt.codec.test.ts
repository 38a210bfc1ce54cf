import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FormatError, encodeHandoffRecord } from '@efikdump/core';
import { sampleHandoffRecord } from '@efikdump/core/testing';
import { decodeHandoffFdt, encodeHandoffFdt } from './handoff-fdt.codec';

const record = sampleHandoffRecord({ logTail: '' });

describe('handoff record as a device tree (KHO style)', () => {
  const encoded = encodeHandoffRecord(record);
  const blob = encodeHandoffFdt({ ...record, mac: new Uint8Array(32) }, encoded);

  test('decodes back to the record it carries', () => {
    const back = decodeHandoffFdt(blob, 'x.dtb');
    expect(back.record.info).toEqual(record.info);
    expect(back.record.reason).toBe(record.reason);
    expect(Buffer.from(back.encoded)).toEqual(Buffer.from(encoded));
  });

  test('readable properties that disagree with the record are refused', () => {
    const other = encodeHandoffFdt({ ...record, info: { ...record.info, cpus: 3 }, mac: new Uint8Array(32) }, encoded);
    expect(() => decodeHandoffFdt(other, 'x.dtb')).toThrow(/handoff device tree cpus/);
    expect(() => decodeHandoffFdt(blob.subarray(0, 30), 'x.dtb')).toThrow(FormatError);
  });

  const dtc = spawnSync('dtc', ['--version'], { encoding: 'utf8' }).status === 0;
  if (!dtc && process.env.EFIKDUMP_REQUIRE_INTEROP === '1') throw new Error('dtc (device-tree-compiler) is required but missing');
  (dtc ? test : test.skip)('dtc -I dtb -O dts prints the handoff', () => {
    const dir = mkdtempSync(join(tmpdir(), 'efikdump-fdt-'));
    try {
      const file = join(dir, 'handoff.dtb');
      writeFileSync(file, blob);
      const r = spawnSync('dtc', ['-I', 'dtb', '-O', 'dts', file], { encoding: 'utf8' });
      expect(r.status).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toContain('compatible = "efikdump,handoff-v2";');
      expect(r.stdout).toContain('reason = "sysrq: Trigger a crash";');
      expect(r.stdout).toMatch(/elfcorehdr@efff000 \{\s+reg = <0x00 0xefff000 0x00 0x200>;/);
      expect(r.stdout).toMatch(/crashkernel@9000000 \{\s+reg = <0x00 0x9000000 0x00 0x6000000>;/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
