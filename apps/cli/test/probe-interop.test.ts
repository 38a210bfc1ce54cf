import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { readRetentionProfile } from '@efikdump/firmware-uefi';
import { BIN, REPO, hasCommand, tempDir, toolAvailable } from './helpers';

/**
 * The real probe on a small guest (256 MiB, warm reset, one run: ~25 s under TCG here) must
 * reproduce the committed measurement, or print exactly which pages differ. Needs the Debian
 * packages qemu-system-x86 and ovmf; skips without them unless EFIKDUMP_REQUIRE_INTEROP=1.
 */
const COMMITTED = join(REPO, 'packages/firmware-uefi/profiles/measured/ovmf-retention.json');
const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';

const haveQemu = toolAvailable(hasCommand('qemu-system-x86_64'), 'qemu-system-x86_64 (Debian package qemu-system-x86)');
const haveOvmf = toolAvailable(() => existsSync(OVMF_CODE) && existsSync(OVMF_VARS), 'OVMF firmware (Debian package ovmf)');

/** Processes whose command line mentions `text` (our work directory: only QEMU would). */
function processesMentioning(text: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmdline.includes(text)) found.push(`${pid}: ${cmdline.slice(0, 200)}`);
    } catch {
      /* gone meanwhile */
    }
  }
  return found;
}

(haveQemu && haveOvmf ? describe : describe.skip)('efikdump probe retention on real OVMF under QEMU', () => {
  const tmp = tempDir('probe-interop');
  const work = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmp.dir, 'efikdump-probe-test-'));
  afterAll(() => {
    rmSync(work, { recursive: true, force: true });
    tmp.cleanup();
  });

  test('256 MiB, warm reset, one run: agrees with the committed profile, and stops QEMU', () => {
    const out = join(tmp.dir, 'ovmf-256-warm.json');
    const r = spawnSync(
      process.execPath,
      [
        BIN,
        'probe',
        'retention',
        '--firmware',
        'ovmf',
        '--memory',
        '256MiB',
        '--reset',
        'warm',
        '--repeat',
        '1',
        '--work-dir',
        work,
        '--out',
        out,
        '--compare',
        COMMITTED,
      ],
      { encoding: 'utf8', timeout: 540_000, killSignal: 'SIGTERM' },
    );
    const output = `exit ${r.status}${r.signal ? ` (${r.signal})` : ''}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
    if (r.status !== 0 || !r.stdout.includes(`agrees with ${COMMITTED}`))
      throw new Error(`the probe does not reproduce the committed profile:\n${output}`);
    const p = readRetentionProfile(out);
    expect(p.measurements.map((m) => `${m.memoryBytes} ${m.reset} ${m.runs.length}`)).toEqual([`${256 * 1024 * 1024} warm 1`]);
    expect(p.measurements[0].runs[0].emulatorPages).toBe(0);
    expect(p.qemu.args).toEqual(expect.arrayContaining(['-nic', 'none', '-nodefaults']));
    expect(processesMentioning(work)).toEqual([]);
    expect(readdirSync(work)).toEqual([]); // the RAM file and logs are gone
  }, 600_000);
});
