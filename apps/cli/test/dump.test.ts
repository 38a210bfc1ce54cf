import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import {
  decodeElfHeader,
  decodeLostRanges,
  decodeProgramHeaders,
  LOST_RANGES_NOTE_NAME,
  MiB,
  PT_LOAD,
  PT_NOTE,
  walkNotes,
} from '@efikdump/core';
import {
  findPartition,
  OFFLINE_DUMP_PARTITION_TYPE_GUID,
  OfflineDumpCreationError,
  partitionExtent,
  readGptImage,
} from '@efikdump/firmware-uefi';
import { efikdump, hasCommand, hasPythonModule, PYTHON, REPO, tempDir, toolAvailable } from './helpers';
import { firmwareDump, makeCertificate, type FirmwareDumpFixture } from './dump-fixture';

const CHECKER = join(REPO, 'tools/interop/check_dump.py');
const RAM = [
  { start: 0, end: 24 * MiB },
  { start: 64 * MiB, end: 72 * MiB },
];
const REDACT = [{ start: 8 * MiB, end: 9 * MiB }];

describe('efikdump dump', () => {
  const { dir, cleanup } = tempDir('dump');
  afterAll(cleanup);
  let key: { cert: Uint8Array; keyPath: string };
  let enc: FirmwareDumpFixture;

  beforeAll(async () => {
    key = makeCertificate(dir, 'owner');
    enc = await firmwareDump(dir, 'enc', RAM, REDACT, key.cert, 7);
  });

  it('extracts an encrypted dump into an ELF vmcore that verify, readelf, libkdumpfile and drgn accept', () => {
    const out = join(dir, 'enc.vmcore');
    const r = efikdump(['dump', 'extract', enc.image, '--key', key.keyPath, '-o', out]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/3 PT_LOADs.*decrypted and authenticated; 256 redacted pages/);
    const v = efikdump(['verify', out, '--truth', enc.truth]);
    expect(v.status).toBe(0);
    expect(v.stdout).toMatch(/excluded ranges absent/);
    if (toolAvailable(hasCommand('readelf'), 'readelf')) {
      const re = spawnSync('readelf', ['-l', '-W', out], { encoding: 'utf8' });
      expect(re.status).toBe(0);
      expect(re.stdout.match(/^\s+LOAD/gm)).toHaveLength(3);
    }
    for (const reader of ['libkdumpfile', 'drgn'] as const) {
      if (!toolAvailable(hasPythonModule(reader === 'drgn' ? 'drgn' : 'kdumpfile'), reader)) continue;
      const c = spawnSync(PYTHON, [CHECKER, reader, out, enc.truth], { encoding: 'utf8' });
      const report = JSON.parse(c.stdout);
      expect(report.checked).toBeGreaterThan(1000);
      expect(report.matched).toBe(report.checked);
      expect(report.excluded_present).toEqual([]);
      expect(c.status).toBe(0);
    }
  });

  it('extracts as kdump-compressed too', () => {
    const out = join(dir, 'enc.kdump');
    expect(efikdump(['dump', 'extract', enc.image, '--key', key.keyPath, '-o', out, '--format', 'kdump']).status).toBe(0);
    expect(efikdump(['verify', out, '--truth', enc.truth]).status).toBe(0);
  });

  it('refuses a wrong key with one line and exit code 3, writing nothing', () => {
    const other = makeCertificate(dir, 'stranger');
    const out = join(dir, 'wrong.vmcore');
    const r = efikdump(['dump', 'extract', enc.image, '--key', other.keyPath, '-o', out]);
    expect(r.status).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^error: .*wrong key/);
    expect(existsSync(out)).toBe(false);
  });

  it('asks for the key when the dump is encrypted (exit code 2)', () => {
    const r = efikdump(['dump', 'extract', enc.image, '-o', join(dir, 'nokey.vmcore')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^error: .*--key/);
  });

  it('refuses a dump with one flipped ciphertext byte (exit code 3, no output, no temporary left)', async () => {
    const t = await firmwareDump(dir, 'tamper', RAM, [], key.cert, 97);
    const { offset } = partitionExtent(findPartition(readGptImage(t.image), OFFLINE_DUMP_PARTITION_TYPE_GUID)!);
    const fd = openSync(t.image, 'r+');
    writeSync(fd, Uint8Array.of(0x01), 0, 1, offset + 5 * MiB + 123);
    closeSync(fd);
    const out = join(dir, 'tampered.vmcore');
    const r = efikdump(['dump', 'extract', t.image, '--key', key.keyPath, '-o', out]);
    expect(r.status).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^error: .*MAC.*altered/);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('extracts a plain (unencrypted) dump without a key, and prints its headers', async () => {
    const plain = await firmwareDump(dir, 'plain', RAM, REDACT, undefined, 13);
    const out = join(dir, 'plain.vmcore');
    expect(efikdump(['dump', 'extract', plain.image, '-o', out]).status).toBe(0);
    expect(efikdump(['verify', out, '--truth', plain.truth]).status).toBe(0);
    const info = efikdump(['dump', 'info', plain.image, '--json']);
    expect(info.status).toBe(0);
    const d = JSON.parse(info.stdout);
    expect(d.encrypted).toBe(false);
    expect(d.osData).toBe('0xc0ffee');
    expect(d.sections.map((s: { name: string }) => s.name)).toEqual([
      'efikdump-ddr-ranges',
      'efikdump-redacted',
      'system-information',
      'dump-reason',
      'ddr@0x0',
      'ddr@0x900000',
      'ddr@0x4000000',
    ]);
  });

  it('creates an empty GPT disk that sgdisk accepts, and says there is no dump on it', () => {
    const img = join(dir, 'empty.img');
    expect(efikdump(['dump', 'disk', img, '--size', '256M']).status).toBe(0);
    if (toolAvailable(hasCommand('sgdisk', ['--version']), 'sgdisk')) {
      expect(spawnSync('sgdisk', ['-v', img], { encoding: 'utf8' }).stdout).toMatch(/No problems found/);
    }
    const r = efikdump(['dump', 'extract', img, '-o', join(dir, 'none.vmcore')]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/^error: .*Raw_Dmp!.*no dump written/);
  });

  it('convert --encrypt-to seals a vmcore in the same container; dump extract gives it back', () => {
    const elf = join(dir, 'enc.vmcore');
    if (!existsSync(elf)) expect(efikdump(['dump', 'extract', enc.image, '--key', key.keyPath, '-o', elf]).status).toBe(0);
    const sealed = join(dir, 'sealed.bin');
    const c = efikdump(['convert', elf, '-o', sealed, '--encrypt-to', join(dir, 'owner.cert.der')]);
    expect(c.status).toBe(0);
    expect(c.stdout).toMatch(/sealed: Enc_Dmp! container/);
    const info = JSON.parse(efikdump(['dump', 'info', sealed, '--key', key.keyPath, '--json']).stdout);
    expect(info).toMatchObject({ partition: null, encrypted: true, sections: [{ name: 'vmcore-kdump' }] });
    const out = join(dir, 'unsealed.kdump');
    expect(efikdump(['dump', 'extract', sealed, '--key', key.keyPath, '-o', out]).status).toBe(0);
    expect(efikdump(['verify', out, '--truth', enc.truth]).status).toBe(0);
    const bad = efikdump(['convert', elf, '-o', join(dir, 'nope.bin'), '--encrypt-to', enc.truth]);
    expect(bad.status).toBe(3);
    expect(bad.stderr).toMatch(/X\.509 certificate/);
    expect(existsSync(join(dir, 'nope.bin'))).toBe(false);
  });

  it('a dump cut short by a small partition extracts what was written and declares the rest in the lost-ranges note', async () => {
    const small = await firmwareDump(dir, 'small', RAM, [], key.cert, 31, 20 * MiB);
    expect(small.result.creationErrors).toBe(OfflineDumpCreationError.partitionTooSmall);
    const out = join(dir, 'small.vmcore');
    const r = efikdump(['dump', 'extract', small.image, '--key', key.keyPath, '-o', out, '--json']);
    expect(r.status).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.insufficientStorage).toBe(true);
    const elf = new Uint8Array(readFileSync(out));
    const header = decodeElfHeader(elf);
    const phdrs = decodeProgramHeaders(elf, header);
    const noteSeg = phdrs.find((p) => p.type === PT_NOTE)!;
    const note = walkNotes(elf.subarray(noteSeg.offset, noteSeg.offset + noteSeg.filesz)).notes.find(
      (n) => n.name === LOST_RANGES_NOTE_NAME,
    )!;
    const lost = decodeLostRanges(note.desc);
    const saved = phdrs.filter((p) => p.type === PT_LOAD).reduce((n, p) => n + p.filesz, 0);
    // Saved plus declared lost is exactly the RAM the firmware meant to save: nothing silently missing.
    expect(saved + lost.reduce((n, x) => n + x.end - x.start, 0)).toBe(32 * MiB);
    expect(lost[lost.length - 1]).toEqual({ start: 64 * MiB, end: 72 * MiB, reason: 'unreadable' });
    expect(result.lostPages * 4096).toBe(32 * MiB - saved);
  });
});
