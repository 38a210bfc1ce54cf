import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../src/main';
import { efikdump, tempDir } from './helpers';
import { capture, runJson } from './in-process';

/** These tests are about the pipeline and its files: they run the RFD's design on the ideal firmware (measured OVMF loses pages: measured-firmware.test.ts). */
const IDEAL = 'efi-warm-reserved-memory-ideal-firmware';

describe('efikdump run', () => {
  // Every size the issue names must get a reservation and a complete, verified /proc/vmcore.
  test.each([
    ['256MiB', 1, 11],
    ['512MiB', 2, 12],
    ['768MiB', 5, 13],
    ['1GiB', 16, 14],
    ['2GiB', 64, 15],
    ['2816MiB', 7, 16],
    ['3GiB', 3, 17],
    ['4GiB', 4, 18],
    ['8GiB', 32, 19],
    ['12GiB', 12, 20],
    ['16GiB', 64, 21],
  ])('--memory %s --cpus %d --seed %d completes through verification without --out', async (memory, cpus, seed) => {
    const { code, result } = await runJson(['--design', IDEAL, '--memory', memory, '--cpus', String(cpus), '--seed', String(seed)]);
    expect(result.outcome).toBe('dump-complete');
    expect(code).toBe(0);
    expect(result.metrics.fidelity).toBe(1);
    expect(result.metrics.pagesChecked).toBe(1280);
    expect(result.metrics.crashkernelBytes).toBeGreaterThan(0);
    expect(result.timeline.map((e: { stage: string }) => e.stage)).toEqual(
      expect.arrayContaining(['panic', 'exit', 'firmware-post', 'stub', 'vmcore-init', 'verify']),
    );
  });

  test('the same design, scenario and seed give the same result and the same dump bytes', async () => {
    const tmp = tempDir('determinism');
    try {
      const digests: string[] = [];
      const results: string[] = [];
      for (const name of ['a', 'b']) {
        const out = join(tmp.dir, `${name}.vmcore`);
        const { result } = await runJson(['--design', IDEAL, '--memory', '256MiB', '--cpus', '2', '--seed', '5', '--out', out]);
        delete result.artifacts.dump;
        results.push(JSON.stringify(result));
        digests.push(createHash('sha256').update(readFileSync(out)).digest('hex'));
      }
      expect(results[0]).toBe(results[1]);
      expect(digests[0]).toBe(digests[1]);
      const other = await runJson(['--design', IDEAL, '--memory', '256MiB', '--cpus', '2', '--seed', '6']);
      expect(JSON.stringify(other.result.metrics)).not.toBe(JSON.stringify(JSON.parse(results[0]).metrics));
      // Only the two finished dumps are left: no temporary files.
      expect(readdirSync(tmp.dir).sort()).toEqual(['a.vmcore', 'b.vmcore']);
    } finally {
      tmp.cleanup();
    }
  });

  test('a 1 TiB machine runs through vmcore initialisation and sampled-page verification without materialising memory', async () => {
    const before = process.memoryUsage().rss;
    const { code, result } = await runJson(['--design', IDEAL, '--memory', '1TiB', '--cpus', '64', '--seed', '3']);
    expect(result.outcome).toBe('dump-complete');
    expect(code).toBe(0);
    expect(result.metrics.vmcoreBytes).toBeGreaterThan(2 ** 40 - 2 ** 30);
    expect(process.memoryUsage().rss - before).toBeLessThan(512 * 2 ** 20);
  });
});

describe('errors are one clear line and a non-zero exit, never a stack trace', () => {
  const cases: [string, string[], number, RegExp][] = [
    [
      'unknown design',
      ['run', '--design', 'nope'],
      2,
      /^error: --design: Unknown design: nope \(known: [a-z0-9, -]*efi-warm-reserved-memory/,
    ],
    ['bad memory size', ['run', '--memory', 'lots'], 2, /^error: --memory: expected a size such as 4GiB/],
    ['memory too small', ['run', '--memory', '128MiB'], 2, /^error: --memory: memory must be a whole number of MiB from 256MiB/],
    ['bad cpus', ['run', '--cpus', '0'], 2, /^error: --cpus: --cpus expects an integer from 1 to 1024, found "0"/],
    [
      'unknown option',
      ['run', '--frobnicate'],
      2,
      /^error: --frobnicate: unknown option --frobnicate for "efikdump run" \(options: --design/,
    ],
    ['missing option value', ['run', '--seed'], 2, /^error: --seed: --seed needs a value/],
    ['unknown command', ['explode'], 2, /^error: unknown command "explode"/],
    ['missing dump', ['inspect', '/nonexistent/x.vmcore'], 6, /^error: \/nonexistent\/x\.vmcore: cannot open/],
    ['verify without truth', ['verify', '/nonexistent/x.vmcore'], 5, /^error: --truth: --truth FILE is required/],
  ];
  test.each(cases)('%s', async (_name, argv, exitCode, message) => {
    const io = capture();
    const code = await main(argv, io);
    expect(code).toBe(exitCode);
    expect(io.stderr[0]).toMatch(message);
    expect(io.stderr.join('\n')).not.toMatch(/\n\s+at /);
  });

  test('a design file with broken JSON names the file and offset', async () => {
    const tmp = tempDir('bad-design');
    try {
      const file = join(tmp.dir, 'broken.json');
      writeFileSync(file, '{"format": "efikdump-design/1", "name": ');
      const io = capture();
      expect(await main(['run', '--design', file], io)).toBe(2);
      expect(io.stderr[0]).toMatch(new RegExp(`^error: ${file}:0x[0-9a-f]+: expected valid JSON`));
    } finally {
      tmp.cleanup();
    }
  });

  test('a design file with a wrong field names the file and the field', async () => {
    const tmp = tempDir('bad-design');
    try {
      const design = JSON.parse(readFileSync(join(__dirname, '../designs/efi-warm-reserved-memory.json'), 'utf8'));
      design.components.transport = 'carrier-pigeon';
      const file = join(tmp.dir, 'pigeon.json');
      writeFileSync(file, JSON.stringify(design));
      const io = capture();
      expect(await main(['run', '--design', file], io)).toBe(2);
      expect(io.stderr[0]).toMatch(
        new RegExp(`^error: ${file}:components\\.transport: Unknown transport: carrier-pigeon \\(known: [a-z, -]*reserved-memory`),
      );
    } finally {
      tmp.cleanup();
    }
  });

  test('a crashkernel= the kernel cannot parse names the parameter and the offset', async () => {
    const tmp = tempDir('bad-cmdline');
    try {
      const design = JSON.parse(readFileSync(join(__dirname, '../designs/efi-warm-reserved-memory.json'), 'utf8'));
      design.kernel.cmdline = 'ro crashkernel=512M-2G64M';
      const file = join(tmp.dir, 'bad.json');
      writeFileSync(file, JSON.stringify(design));
      const io = capture();
      expect(await main(['run', '--design', file], io)).toBe(2);
      expect(io.stderr[0]).toMatch(/crashkernel="512M-2G64M": at offset 7: expected ':'/);
    } finally {
      tmp.cleanup();
    }
  });

  test('the installed command prints the error and exits non-zero (process level)', () => {
    const r = efikdump(['run', '--design', 'nope']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^error: /);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('efikdump inspect', () => {
  test('shows headers, notes, VMCOREINFO and every CPU of a dump', async () => {
    const tmp = tempDir('inspect');
    try {
      const out = join(tmp.dir, 'x.vmcore');
      await runJson(['--design', IDEAL, '--memory', '256MiB', '--cpus', '3', '--seed', '9', '--out', out]);
      const io = capture();
      expect(await main(['inspect', out, '--json'], io)).toBe(0);
      const info = JSON.parse(io.stdout.join('\n'));
      expect(info.type).toBe('ET_CORE');
      expect(info.machine).toBe(62);
      expect(info.notes.filter((n: { name: string }) => n.name === 'CORE')).toHaveLength(3);
      expect(info.vmcoreinfo.OSRELEASE).toBe('6.1.0-efikdump');
      expect(info.vmcoreinfo.CRASHTIME).toMatch(/^\d+$/);
      expect(info.cpus).toHaveLength(3);
      expect(info.cpus.filter((c: { pid: number }) => c.pid !== 0)).toHaveLength(1);
      expect(info.cpus[0].regs.rip).toMatch(/^0xffffffff8/);
      const text = capture();
      expect(await main(['inspect', out], text)).toBe(0);
      expect(text.stdout.join('\n')).toContain('VMCOREINFO:');
      expect(text.stdout.join('\n')).toContain('CPU 2: pid');
    } finally {
      tmp.cleanup();
    }
  });

  test('a file that is not ELF is refused with the offset and what was expected', async () => {
    const tmp = tempDir('inspect');
    try {
      const bad = join(tmp.dir, 'bad.vmcore');
      writeFileSync(bad, Buffer.alloc(4096, 0x41));
      const io = capture();
      expect(await main(['inspect', bad], io)).toBe(3);
      expect(io.stderr[0]).toBe(`error: ${bad}:0x0: ELF magic: expected 7f 45 4c 46, found 41 41 41 41`);
    } finally {
      tmp.cleanup();
    }
  });
});
