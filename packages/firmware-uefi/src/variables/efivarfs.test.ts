import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { FormatError } from '@efikdump/core';
import { decodeEfivarfsFile, encodeEfivarfsFile, exportEfivarfs, importEfivarfs } from './efivarfs';

describe('efivarfs layout (Linux Documentation/filesystems/efivarfs.rst)', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'efivarfs-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes Name-GUID files holding the 4-byte little-endian attributes, then the data, and reads them back', () => {
    const vars = [
      { name: 'BootOrder', guid: '8be4df61-93ca-11d2-aa0d-00e098032b8c', attributes: 7, data: Uint8Array.of(0, 0) },
      {
        name: 'dump-type0-1-1-1767225600-C',
        guid: 'cfc8fc79-be2e-4ddc-97f0-9f98bfe298a0',
        attributes: 7,
        data: new Uint8Array(1024).fill(3),
      },
    ];
    const out = join(dir, 'vars');
    exportEfivarfs(out, vars);
    expect(readdirSync(out).sort()).toEqual([
      'BootOrder-8be4df61-93ca-11d2-aa0d-00e098032b8c',
      'dump-type0-1-1-1767225600-C-cfc8fc79-be2e-4ddc-97f0-9f98bfe298a0',
    ]);
    expect(Array.from(readFileSync(join(out, 'BootOrder-8be4df61-93ca-11d2-aa0d-00e098032b8c')))).toEqual([7, 0, 0, 0, 0, 0]);
    expect(importEfivarfs(out)).toEqual(vars);
    // Written into, never emptied: a second export replaces its own file and keeps the others
    // (a user's file in the directory survives), with no temporary left anywhere.
    exportEfivarfs(out, [{ ...vars[0], data: Uint8Array.of(1, 0) }]);
    expect(readdirSync(out).sort()).toEqual([
      'BootOrder-8be4df61-93ca-11d2-aa0d-00e098032b8c',
      'dump-type0-1-1-1767225600-C-cfc8fc79-be2e-4ddc-97f0-9f98bfe298a0',
    ]);
    expect(Array.from(readFileSync(join(out, 'BootOrder-8be4df61-93ca-11d2-aa0d-00e098032b8c')))).toEqual([7, 0, 0, 0, 1, 0]);
    expect(readdirSync(dir)).toEqual(['vars']);
  });

  it('round-trips any runtime variable', () => {
    fc.assert(
      fc.property(
        fc.record({ attributes: fc.constantFrom(6, 7, 0x27, 0xf), data: fc.uint8Array({ maxLength: 64 }) }),
        ({ attributes, data }) => {
          const v = { name: 'X', guid: '8be4df61-93ca-11d2-aa0d-00e098032b8c', attributes, data };
          expect(decodeEfivarfsFile('X-8be4df61-93ca-11d2-aa0d-00e098032b8c', encodeEfivarfsFile(v))).toEqual(v);
        },
      ),
    );
  });

  it('refuses files that efivarfs would never hold', () => {
    const g = '8be4df61-93ca-11d2-aa0d-00e098032b8c';
    expect(() => decodeEfivarfsFile(`X-${g.toUpperCase()}`, Uint8Array.of(7, 0, 0, 0))).toThrow(FormatError);
    expect(() => decodeEfivarfsFile(`X-${g}`, Uint8Array.of(7, 0, 0))).toThrow(FormatError);
    expect(() => decodeEfivarfsFile(`X-${g}`, Uint8Array.of(3, 0, 0, 0))).toThrow(/RUNTIME_ACCESS/);
    expect(() => decodeEfivarfsFile(`X-${g}`, Uint8Array.of(0x47, 0, 0, 0))).toThrow(FormatError);
    writeFileSync(join(dir, 'junk'), 'x');
    expect(() => importEfivarfs(dir)).toThrow(FormatError);
  });
});
