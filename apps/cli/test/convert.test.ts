import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../src/main';
import { efikdump, tempDir } from './helpers';
import { capture } from './in-process';

describe('efikdump convert', () => {
  const tmp = tempDir('convert');
  const vmcore = join(tmp.dir, 'x.vmcore');
  const truth = join(tmp.dir, 'x.truth.json');
  beforeAll(async () => {
    const io = capture();
    const code = await main(
      [
        'run',
        '--design',
        'efi-warm-reserved-memory-ideal-firmware',
        '--memory',
        '256MiB',
        '--cpus',
        '2',
        '--seed',
        '11',
        '--out',
        vmcore,
        '--truth',
        truth,
        '--json',
      ],
      io,
    );
    if (code !== 0) throw new Error(io.stderr.join('\n'));
  });
  afterAll(() => tmp.cleanup());

  async function convert(args: string[]) {
    const io = capture();
    const code = await main(['convert', ...args], io);
    return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n') };
  }

  test.each([
    ['kdump zlib -d 1', ['--dump-level', '1'], /kdump-compressed \(zlib\), dump level 1/],
    ['kdump none -d 0', ['--compress', 'none', '--dump-level', '0'], /kdump-compressed \(none\), dump level 0/],
    ['kdump zlib -d 31', ['--dump-level', '31', '--threads', '1'], /pages classified from struct pages \(FLATMEM mem_map/],
    ['ELF -d 1', ['--format', 'elf'], /ELF, dump level 1/],
    ['ELF -d 31', ['--format', 'elf', '--dump-level', '31'], /pages left out: \d+ free, \d+ cache, \d+ user/],
  ])('%s: writes a dump that verify and inspect read', async (name, args, summary) => {
    const out = join(tmp.dir, `${name.replace(/\W+/g, '-')}.dump`);
    const r = await convert([vmcore, '-o', out, ...args]);
    expect(r.err).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(summary);
    const v = capture();
    // An ELF filtered past zero pages cannot say why pages are gone (no dump level in ELF): partial, exit 1.
    const partial = args.includes('elf') && args.includes('31');
    expect(await main(['verify', out, '--truth', truth], v)).toBe(partial ? 1 : 0);
    expect(v.stdout[0]).toMatch(/sampled pages match/);
    if (partial) expect(v.stdout[0]).toMatch(/: partial: .* pages declared lost \(\d+ with no bytes in the ELF's segments/);
    else if (args.includes('31')) expect(v.stdout[0]).toMatch(/: complete: .* left out by the dump level 31 \(not checked\)/);
    else expect(v.stdout[0]).toMatch(/: complete: (\d+)\/\1 sampled pages match/);
    const i = capture();
    expect(await main(['inspect', out, '--json'], i)).toBe(0);
    const info = JSON.parse(i.stdout.join('\n'));
    expect(info.vmcoreinfo.OSRELEASE).toBe('6.1.0-efikdump');
    expect(info.cpus).toHaveLength(2);
    expect(info.format).toBe(args.includes('elf') ? 'elf' : 'kdump-compressed');
    if (info.format === 'kdump-compressed') expect(info.dumpLevel).toBe(Number(args[args.indexOf('--dump-level') + 1] ?? 1));
  });

  test('a kdump-compressed input is re-filtered; its own level is kept in the output', async () => {
    const first = join(tmp.dir, 'first.kd');
    expect((await convert([vmcore, '-o', first, '--dump-level', '1'])).code).toBe(0);
    const second = join(tmp.dir, 'second.kd');
    const r = await convert([first, '-o', second, '--dump-level', '16', '--json']);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.out);
    expect(result.inputFormat).toBe('kdump-compressed');
    expect(result.excluded.free).toBeGreaterThan(1000);
    expect(statSync(second).size).toBeLessThan(statSync(first).size);
    const i = capture();
    await main(['inspect', second, '--json'], i);
    expect(JSON.parse(i.stdout.join('\n')).dumpLevel).toBe(17);
  });

  test.each([
    ['no -o', [], 2, /-o OUT is required/],
    ['a bad level', ['-o', 'OUT', '--dump-level', '32'], 2, /--dump-level expects an integer from 0 to 31/],
    ['an unknown format', ['-o', 'OUT', '--format', 'tar'], 2, /Unknown format: tar \(known: kdump, elf\)/],
    ['an unknown compression', ['-o', 'OUT', '--compress', 'brotli'], 2, /Unknown compression: brotli/],
    ['compressed ELF', ['-o', 'OUT', '--format', 'elf', '--compress', 'zlib'], 2, /ELF format holds pages uncompressed/],
    ['bad threads', ['-o', 'OUT', '--threads', '0'], 2, /--threads expects an integer from 1 to 256/],
  ])('refuses %s with a ConfigError (exit 2)', async (_name, args, code, message) => {
    const r = await convert([vmcore, ...args.map((a) => (a === 'OUT' ? join(tmp.dir, 'never.kd') : a))]);
    expect(r.code).toBe(code);
    expect(r.err).toMatch(message);
    expect(existsSync(join(tmp.dir, 'never.kd'))).toBe(false);
  });

  test('a vmcore without a memory model refuses levels above 1 and says what is missing', async () => {
    // Rename the VMCOREINFO note: makedumpfile and efikdump then see a vmcore without one.
    const bytes = readFileSync(vmcore);
    const at = bytes.indexOf('VMCOREINFO');
    bytes.write('VMCOREINFX', at, 'latin1');
    const plain = join(tmp.dir, 'plain.vmcore');
    writeFileSync(plain, bytes);
    const r = await convert([plain, '-o', join(tmp.dir, 'never.kd'), '--dump-level', '31']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/dump level 31 needs the crashed kernel's struct pages, but the vmcore has no VMCOREINFO note/);
    expect((await convert([plain, '-o', join(tmp.dir, 'plain.kd'), '--dump-level', '1'])).code).toBe(0);
  });

  test('a truncated input fails naming the file and offset, exit 3, and leaves nothing behind', () => {
    const dir = tempDir('convert-fail');
    try {
      const cut = join(dir.dir, 'cut.vmcore');
      writeFileSync(cut, readFileSync(vmcore).subarray(0, 64 << 20));
      const r = efikdump(['convert', cut, '-o', join(dir.dir, 'out.kd')]);
      expect(r.status).toBe(3);
      expect(r.stderr).toMatch(
        new RegExp(
          `^error: ${cut.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:0x[0-9a-f]+: PT_LOAD segment: expected inside the \\d+-byte file`,
        ),
      );
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(readdirSync(dir.dir)).toEqual(['cut.vmcore']);
    } finally {
      dir.cleanup();
    }
  });

  test('the output may not overwrite the input', async () => {
    const r = await convert([vmcore, '-o', vmcore]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/-o: is also the input VMCORE .*; writing it would destroy the input/);
  });
});
