import { spawnSync } from 'node:child_process';
import { copyFileSync, openSync, readFileSync, readSync, closeSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { container as rootContainer } from 'tsyringe';
import { ConfigError, createRun, type Design, type RunContext, type RunResult } from '@efikdump/core';
import { OFFLINE_DUMP_DEMO_CERTIFICATE, OFFLINE_DUMP_DEMO_KEY } from '@efikdump/firmware-uefi';
import { DUMP_ENCRYPT_BYTES_PER_SECOND, dumpEncryptionOf } from '@efikdump/vmcore';
import { createContainer } from '../src/container';
import { builtinDesigns, builtinScenarios } from '../src/library';
import { efikdump, hasCommand, REPO, tempDir, toolAvailable } from './helpers';

// Issue 16, item 5: the capture writers seal their dump in the same Enc_Dmp! container as the
// encrypted firmware writer (a capture kernel has a public key, no secret), so the comparison shows
// what encryption costs each family. The sealer is firmware-uefi's, found through DUMP_SEALER.

const designs = builtinDesigns();
const design = (name: string): Design => designs.find((d) => d.name === name)!;
const healthy = builtinScenarios().find((s) => s.name === 'healthy')!;
const container = createContainer();
const GiB = 1024 ** 3;

const magic = (file: string): string => {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(8);
    readSync(fd, b, 0, 8, 0);
    return b.toString('latin1');
  } finally {
    closeSync(fd);
  }
};

function run(d: Design, seed = 4): Promise<RunResult> {
  return createRun(container, {
    design: d,
    scenario: healthy,
    seed,
    ramBytes: GiB,
    options: { truthPages: 256, truthZeroPages: 32 },
  }).start();
}

describe('encrypting capture writers', () => {
  it.each([
    ['classic-kexec', 'classic-kexec-encrypted'],
    ['efi-warm-reserved-memory-footprint-aware', 'efi-warm-reserved-memory-footprint-aware-encrypted'],
  ])(
    '%s: the encrypted variant charges the encryption at the assumed throughput and changes nothing else of the outcome',
    async (plainName, encName) => {
      const plain = await run(design(plainName));
      const enc = await run(design(encName));
      expect(enc.outcome).toBe(plain.outcome);
      expect(plain.metrics.dumpEncrypted).toBeUndefined();
      expect(enc.metrics.dumpEncrypted).toBe(true);
      expect(enc.metrics.dumpEncryptThroughputAssumed).toBe(true);
      const us = enc.metrics.dumpEncryptUs as number;
      // Without --out the writer encrypts /proc/vmcore's size; dump-done charges the write as before.
      expect(us).toBe(Math.round(((enc.metrics.vmcoreBytes as number) / DUMP_ENCRYPT_BYTES_PER_SECOND) * 1e6));
      expect(enc.metrics.crashToDumpUs).toBe((plain.metrics.crashToDumpUs as number) + us);
    },
  );

  it("run --out seals the ELF dump; dump extract with the key gives back the plain design's dump byte for byte, and verify passes it", () => {
    const { dir, cleanup } = tempDir('sealed-run');
    try {
      const args = (d: string, out: string) => [
        'run',
        '--design',
        d,
        '--memory',
        '512MiB',
        '--seed',
        '3',
        '--out',
        join(dir, out),
        '--truth',
        join(dir, `${out}.truth.json`),
        '--json',
      ];
      const plain = efikdump(args('classic-kexec', 'plain.elf'));
      const enc = efikdump(args('classic-kexec-encrypted', 'sealed.bin'));
      expect([plain.status, enc.status]).toEqual([0, 0]);
      const result = JSON.parse(enc.stdout) as RunResult;
      expect(result.metrics.dumpEncrypted).toBe(true);
      expect(magic(join(dir, 'sealed.bin'))).toBe('Enc_Dmp!');
      expect(readFileSync(join(dir, 'sealed.bin')).includes(readFileSync(join(dir, 'plain.elf')).subarray(0, 4096))).toBe(false);
      const x = efikdump(['dump', 'extract', join(dir, 'sealed.bin'), '--key', OFFLINE_DUMP_DEMO_KEY, '-o', join(dir, 'x.elf')]);
      expect(x.status).toBe(0);
      expect(readFileSync(join(dir, 'x.elf')).equals(readFileSync(join(dir, 'plain.elf')))).toBe(true);
      const v = efikdump(['verify', join(dir, 'x.elf'), '--truth', join(dir, 'sealed.bin.truth.json')]);
      expect(v.status).toBe(0);
      if (toolAvailable(hasCommand('readelf', ['--version']), 'readelf')) {
        expect(spawnSync('readelf', ['-h', join(dir, 'x.elf')], { encoding: 'utf8' }).stdout).toMatch(/CORE \(Core file\)/);
      }
      // No plain temporary file is left beside the output.
      expect(
        spawnSync('ls', ['-A', dir], { encoding: 'utf8' })
          .stdout.split('\n')
          .filter((f) => f.endsWith('.tmp')),
      ).toEqual([]);
    } finally {
      cleanup();
    }
  });

  it('the kdump-compressed writer seals to a certificate named relative to the design file; a wrong key is a one-line error', () => {
    const { dir, cleanup } = tempDir('sealed-kdump');
    try {
      copyFileSync(OFFLINE_DUMP_DEMO_CERTIFICATE, join(dir, 'mine.der'));
      const base = JSON.parse(readFileSync(join(REPO, 'apps/cli/designs/classic-kexec.json'), 'utf8'));
      const write = (name: string, writer: unknown) => {
        writeFileSync(join(dir, `${name}.json`), JSON.stringify({ ...base, name, components: { ...base.components, writer } }));
        return join(dir, `${name}.json`);
      };
      const plainDesign = write('kd-plain', { name: 'kdump-compressed', options: { compress: 'lzo' } });
      const encDesign = write('kd-sealed', {
        name: 'kdump-compressed',
        options: { compress: 'lzo', encrypt: true, certificate: 'mine.der' },
      });
      const args = (d: string, out: string) => ['run', '--design', d, '--memory', '512MiB', '--seed', '5', '--out', join(dir, out)];
      expect(efikdump(args(plainDesign, 'plain.kdump')).status).toBe(0);
      expect(efikdump(args(encDesign, 'sealed.bin')).status).toBe(0);
      expect(magic(join(dir, 'sealed.bin'))).toBe('Enc_Dmp!');
      expect(
        efikdump(['dump', 'extract', join(dir, 'sealed.bin'), '--key', OFFLINE_DUMP_DEMO_KEY, '-o', join(dir, 'x.kdump')]).status,
      ).toBe(0);
      expect(readFileSync(join(dir, 'x.kdump')).equals(readFileSync(join(dir, 'plain.kdump')))).toBe(true);
      // Tampered: one ciphertext byte flipped.
      const bytes = readFileSync(join(dir, 'sealed.bin'));
      bytes[bytes.length - 4096] ^= 0x01;
      writeFileSync(join(dir, 'tampered.bin'), bytes);
      const t = efikdump(['dump', 'extract', join(dir, 'tampered.bin'), '--key', OFFLINE_DUMP_DEMO_KEY, '-o', join(dir, 't.kdump')]);
      expect(t.status).not.toBe(0);
      expect(t.stderr.trim().split('\n')).toHaveLength(1);
      expect(t.stderr).not.toMatch(/\n\s+at /);
    } finally {
      cleanup();
    }
  });

  it('bad encryption options are refused before the run, naming the design file and the field', () => {
    const { dir, cleanup } = tempDir('sealed-bad');
    try {
      const base = JSON.parse(readFileSync(join(REPO, 'apps/cli/designs/classic-kexec.json'), 'utf8'));
      copyFileSync(join(REPO, 'packages/firmware-uefi/profiles/offline-dump/demo-ec-cert.der'), join(dir, 'ec.der'));
      // Exit codes as documented: 2 a configuration error, 3 a file in the wrong format, 6 a file that cannot be read.
      const cases: [string, Record<string, unknown>, RegExp, number][] = [
        ['missing', { encrypt: true, certificate: 'absent.der' }, /absent\.der/, 6],
        ['not-rsa', { encrypt: true, certificate: 'ec.der' }, /RSA/, 3],
        ['no-encrypt', { certificate: 'ec.der' }, /no-encrypt\.json.*encrypt is false/s, 2],
        ['not-boolean', { encrypt: 'yes' }, /not-boolean\.json.*encrypt/s, 2],
      ];
      for (const [name, options, message, code] of cases) {
        const file = join(dir, `${name}.json`);
        writeFileSync(
          file,
          JSON.stringify({ ...base, name: `bad-${name}`, components: { ...base.components, writer: { name: 'elf', options } } }),
        );
        const r = efikdump(['run', '--design', file, '--memory', '512MiB', '--out', join(dir, `${name}.out`)]);
        expect({ name, status: r.status }).toEqual({ name, status: code });
        expect(r.stderr).toMatch(message);
        expect(r.stderr).not.toMatch(/\n\s+at /);
        expect(spawnSync('ls', [dir], { encoding: 'utf8' }).stdout).not.toMatch(new RegExp(`${name}\\.out`));
      }
    } finally {
      cleanup();
    }
  });

  it('without a registered sealer a writer asked to encrypt fails at construction with a ConfigError', () => {
    const ctx = { design: { source: 'mine.json' } } as unknown as RunContext;
    const bare = rootContainer.createChildContainer();
    expect(() => dumpEncryptionOf(bare, ctx, { encrypt: true }, 'elf')).toThrow(ConfigError);
    expect(() => dumpEncryptionOf(bare, ctx, { encrypt: true }, 'elf')).toThrow(/no plug-in package registered one/);
    expect(dumpEncryptionOf(bare, ctx, { encrypt: false }, 'elf')).toBeUndefined();
  });
});
