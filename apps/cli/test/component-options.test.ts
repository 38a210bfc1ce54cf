import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../src/main';
import { BUILTIN_DIR } from '../src/library';
import { tempDir } from './helpers';
import { capture, runJson } from './in-process';

// Components with options in a design file, end to end through `efikdump run`: the built-in writer
// and cmdline transport take theirs by constructor injection; a bad option is exit 2 naming the file
// and the field; the command-line flags override the design's writer options.

const builtin = (name: string) => JSON.parse(readFileSync(join(BUILTIN_DIR, 'designs', `${name}.json`), 'utf8'));

describe('efikdump run with a design whose components take options', () => {
  const tmp = tempDir('component-options');
  afterAll(() => tmp.cleanup());
  const designFile = (name: string, edit: (d: any) => void) => {
    const d = builtin('efi-warm-reserved-memory-ideal-firmware');
    d.name = name;
    edit(d);
    const file = join(tmp.dir, `${name}.json`);
    writeFileSync(file, JSON.stringify(d, null, 2));
    return file;
  };

  it('the elf writer receives its dumpLevel from the design; --dump-level overrides it', async () => {
    const file = designFile('elf-d31', (d) => {
      d.components.writer = { name: 'elf', options: { dumpLevel: 31 } };
    });
    const a = await runJson(['--design', file, '--memory', '1GiB', '--out', join(tmp.dir, 'a.elf')]);
    expect(a.code).toBe(0);
    expect(a.result.metrics.dumpLevel).toBe(31);
    expect(a.result.timeline.some((e: any) => /ELF core, -d 31: \d+ PT_LOADs/.test(e.message))).toBe(true);
    const b = await runJson(['--design', file, '--memory', '1GiB', '--out', join(tmp.dir, 'b.elf'), '--dump-level', '1']);
    expect(b.result.metrics.dumpLevel).toBe(1);
    expect(b.result.timeline.some((e: any) => /ELF core, -d 1: /.test(e.message))).toBe(true);
  });

  it('the kdump-compressed writer receives compress and dumpLevel from the design; --compress overrides one, the other stays', async () => {
    const file = designFile('kd-zstd', (d) => {
      d.components.writer = { name: 'kdump-compressed', options: { compress: 'zstd', dumpLevel: 17, threads: 1 } };
    });
    const a = await runJson(['--design', file, '--memory', '1GiB', '--out', join(tmp.dir, 'a.kd')]);
    expect(a.code).toBe(0);
    expect(a.result.timeline.some((e: any) => /kdump-compressed \(zstd, -d 17\)/.test(e.message))).toBe(true);
    const b = await runJson(['--design', file, '--memory', '1GiB', '--out', join(tmp.dir, 'b.kd'), '--compress', 'lzo']);
    expect(b.result.timeline.some((e: any) => /kdump-compressed \(lzo, -d 17\)/.test(e.message))).toBe(true);
  });

  it.each<[string, unknown, string]>([
    [
      'a string for an integer',
      { name: 'elf', options: { dumpLevel: 'x' } },
      'components.writer.options.dumpLevel: expected an integer from 0 to 31, found "x"',
    ],
    [
      'an option the writer does not take',
      { name: 'elf', options: { compress: 'zstd' } },
      'components.writer.options.compress: expected one of the options of "elf": dumpLevel, encrypt, certificate, found "compress"',
    ],
    [
      'a compression the writer does not know',
      { name: 'kdump-compressed', options: { compress: 'brotli' } },
      'components.writer.options.compress: expected one of "zlib", "lzo", "zstd", "snappy", "none", found "brotli"',
    ],
  ])('refuses %s with exit 2, naming the design file and the field', async (_n, writer, message) => {
    const file = designFile('bad-option', (d) => {
      d.components.writer = writer;
    });
    const io = capture();
    expect(await main(['run', '--design', file, '--memory', '1GiB'], io)).toBe(2);
    expect(io.stderr.join('\n')).toBe(`error: ${file}:${message}`);
  });

  it('the cmdline transport takes what the kdump service appends and whether it keeps the consoles as options', async () => {
    const d = builtin('classic-kexec');
    d.name = 'kexec-options';
    d.components.transport = { name: 'cmdline', options: { append: 'irqpoll nr_cpus=1', keepConsoles: false } };
    const file = join(tmp.dir, 'kexec-options.json');
    writeFileSync(file, JSON.stringify(d));
    const dir = join(tmp.dir, 'kexec-artifacts');
    const r = await runJson(['--design', file, '--memory', '1GiB', '--artifacts', dir]);
    expect(r.code).toBe(0);
    const line = readFileSync(join(dir, 'capture-cmdline.txt'), 'utf8').trim();
    expect(line).toMatch(/^irqpoll nr_cpus=1 memmap=exactmap memmap=\d+K@\d+K.* elfcorehdr=\d+K$/);
    expect(line).not.toMatch(/console=/);
    // The built-in design, without options: Fedora's extras and the 1st kernel's console, as before.
    const plainDir = join(tmp.dir, 'kexec-plain');
    await runJson(['--design', 'classic-kexec', '--memory', '1GiB', '--artifacts', plainDir]);
    expect(readFileSync(join(plainDir, 'capture-cmdline.txt'), 'utf8')).toMatch(
      /^irqpoll nr_cpus=1 reset_devices .* console=ttyS0 memmap=exactmap /,
    );
  });
});

describe("the retention policies a run's firmware applies are in its report, with who named them", () => {
  it("the design's list, then the profile's platformRetention less what the design names", async () => {
    const some = await runJson(['--design', 'efi-warm-efivar', '--memory', '1GiB']);
    expect(some.result.firmware.retentionPolicies).toEqual([
      { policy: 'firmware-scratch', from: 'design' },
      { policy: 'mor', from: 'profile' },
      { policy: 'ecc-reinit', from: 'profile' },
      { policy: 'decay', from: 'profile' },
    ]);
    const all = await runJson(['--design', 'efi-warm-with-firmware-retention', '--memory', '1GiB']);
    expect(all.result.firmware.retentionPolicies).toEqual(
      ['mor', 'firmware-scratch', 'ecc-reinit', 'decay'].map((policy) => ({ policy, from: 'design' })),
    );
    // What the report lists is what the reset applied, in that order.
    expect(all.result.firmware.retention.map((e: any) => e.policy)).toEqual(['mor', 'firmware-scratch', 'ecc-reinit', 'decay']);
  });
});
