import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, MiB, PAGE_SIZE } from '@efikdump/core';
import { ProbeError, killAllQemu, readRetentionProfile, runRetentionProbe, type RetentionProbeOptions } from '@efikdump/firmware-uefi';
import { BIN, tempDir } from './helpers';

/**
 * A stand-in for qemu-system-x86_64 that speaks enough QMP and writes enough serial output for
 * the probe's whole sequence, so the runner's logic and its clean-up are tested without QEMU.
 * Its "firmware" clears frame 0 and scribbles frames 16..19 on every boot, and frame 40 too on
 * a boot after a system_reset. Mode "hang" never finishes POST; "crash" exits at boot. The
 * wrapper script records every instance's pid and passes the mode (child_process does not see
 * Jest's per-file process.env, so files carry both).
 */
const FAKE_QEMU = String.raw`
const net = require('net');
const fs = require('fs');
const argv = process.argv.slice(2);
if (argv[0] === '--version') { console.log('QEMU emulator version 0.0.1 (efikdump fake)'); process.exit(0); }
const opt = (name) => argv[argv.indexOf(name) + 1];
const prop = (text, key) => new RegExp('(?:^|,)' + key + '=((?:[^,]|,,)*)').exec(text)[1].replace(/,,/g, ',');
const qmpPath = opt('-qmp').replace(/^unix:/, '').split(',')[0];
const serialPath = prop(opt('-chardev'), 'path');
const ramPath = prop(opt('-object'), 'mem-path');
const mode = process.env.FAKE_QEMU_MODE || 'ok';
fs.writeFileSync(serialPath, '');
const serial = (t) => fs.appendFileSync(serialPath, t);
let status = argv.includes('-S') ? 'prelaunch' : 'running';
let needBoot = true, afterReset = false;
const MEMMAP = 'memmap\r\nType       Start            End              # Pages          Attributes\r\n' +
  'Available  0000000000000000-000000000009FFFF 00000000000000A0 000000000000000F\r\n' +
  'Available  0000000000100000-0000000001EFFFFF 0000000000001E00 000000000000000F\r\n' +
  'ACPI_NVS   0000000001F00000-0000000001FFFFFF 0000000000000100 000000000000000F\r\n';
function boot() {
  needBoot = false;
  if (mode === 'crash') { process.stderr.write('fake qemu: cannot boot\n'); process.exit(1); }
  const fd = fs.openSync(ramPath, 'r+');
  fs.writeSync(fd, Buffer.alloc(4096), 0, 4096, 0);
  fs.writeSync(fd, Buffer.alloc(4 * 4096, 0xab), 0, 4 * 4096, 16 * 4096);
  if (afterReset) fs.writeSync(fd, Buffer.alloc(4096, 0xcd), 0, 4096, 40 * 4096);
  fs.closeSync(fd);
  if (mode === 'hang') return;
  setTimeout(() => serial('\x1b[2JBdsDxe: loading Boot0001 "EFI Internal Shell"\r\n'), 20);
  setTimeout(() => serial('UEFI Interactive Shell v2.2\r\n\x1b[1m\x1b[33mShell> \x1b[0m'), 40);
}
net.createServer((sock) => {
  const send = (m) => sock.write(JSON.stringify(m) + '\r\n');
  const event = (name, data) => send({ event: name, data, timestamp: { seconds: 0, microseconds: 0 } });
  send({ QMP: { version: { qemu: { major: 0, minor: 0, micro: 1 }, package: 'fake' }, capabilities: [] } });
  let buf = '';
  sock.on('error', () => {});
  sock.on('data', (d) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const m = JSON.parse(buf.slice(0, i)); buf = buf.slice(i + 1);
      const ok = (ret) => send({ return: ret || {}, id: m.id });
      switch (m.execute) {
        case 'qmp_capabilities': ok(); break;
        case 'cont': status = 'running'; ok(); event('RESUME'); if (needBoot) boot(); break;
        case 'stop': status = 'paused'; event('STOP'); ok(); break;
        case 'query-status': ok({ status, running: status === 'running' }); break;
        case 'system_reset': afterReset = true; needBoot = true; if (status !== 'running') status = 'prelaunch'; ok(); event('RESET', { guest: false, reason: 'host-qmp-system-reset' }); break;
        case 'send-key': ok(); if (m.arguments.keys[0].data === 'ret') serial('\r\n' + MEMMAP + 'Shell> '); break;
        case 'quit': ok(); event('SHUTDOWN', { guest: false, reason: 'host-qmp-quit' }); setTimeout(() => process.exit(0), 5); break;
        default: send({ error: { class: 'CommandNotFound', desc: 'The command ' + m.execute + ' has not been found' }, id: m.id });
      }
    }
  });
}).listen(qmpPath);
`;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function allGone(pidFile: string, timeoutMs = 5000): Promise<number[]> {
  const pids = existsSync(pidFile) ? readFileSync(pidFile, 'utf8').split('\n').filter(Boolean).map(Number) : [];
  const deadline = Date.now() + timeoutMs;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return pids.filter(alive);
}

describe('the retention probe against a fake QEMU', () => {
  const tmp = tempDir('probe-fake');
  const binDir = join(tmp.dir, 'bin');
  const qemu = join(binDir, 'qemu-system-x86_64');
  const code = join(tmp.dir, 'CODE.fd');
  const vars = join(tmp.dir, 'VARS.fd');
  const work = join(tmp.dir, 'work');
  const pidFile = join(tmp.dir, 'pids');
  const modeFile = join(tmp.dir, 'mode');
  const setMode = (mode: string) => writeFileSync(modeFile, mode);

  beforeAll(() => {
    mkdirSync(binDir);
    mkdirSync(work);
    writeFileSync(join(tmp.dir, 'fake-qemu.js'), FAKE_QEMU);
    writeFileSync(
      qemu,
      `#!/bin/sh\necho $$ >> "${pidFile}"\nFAKE_QEMU_MODE=$(cat "${modeFile}") exec "${process.execPath}" "${join(tmp.dir, 'fake-qemu.js')}" "$@"\n`,
    );
    setMode('ok');
    chmodSync(qemu, 0o755);
    writeFileSync(code, Buffer.alloc(4096, 1));
    writeFileSync(vars, Buffer.alloc(4096, 2));
  });
  afterEach(() => {
    setMode('ok');
    killAllQemu();
  });
  afterAll(() => tmp.cleanup());

  const options = (over: Partial<RetentionProbeOptions> = {}): RetentionProbeOptions => ({
    firmware: { code, vars, secureBoot: false },
    memorySizes: [32 * MiB],
    resets: ['warm', 'cold'],
    repeat: 2,
    qemu,
    accel: 'tcg',
    workDir: work,
    bootTimeoutMs: 10_000,
    ...over,
  });
  const r = (startPage: number, endPage: number, zeroPages = 0) => ({
    start: startPage * PAGE_SIZE,
    end: endPage * PAGE_SIZE,
    pages: endPage - startPage,
    zeroPages,
  });

  test('warm and cold runs find exactly the pages the firmware wrote after the fill, and leave nothing behind', async () => {
    const progress: string[] = [];
    const profile = await runRetentionProbe(options({ onProgress: (l) => progress.push(l) }));
    const [warm, cold] = profile.measurements;
    expect(warm).toMatchObject({
      memoryBytes: 32 * MiB,
      reset: 'warm',
      agree: true,
      pages: 6,
      overwritten: [r(0, 1, 1), r(16, 20), r(40, 41)],
    });
    expect(cold).toMatchObject({ memoryBytes: 32 * MiB, reset: 'cold', agree: true, pages: 5, overwritten: [r(0, 1, 1), r(16, 20)] });
    expect(warm.runs.map((x) => x.emulatorPages)).toEqual([0, 0]);
    expect(warm.runs[0].post.state).toBe('uefi-shell');
    expect(profile.memoryMaps).toEqual([
      {
        memoryBytes: 32 * MiB,
        source: 'UEFI Shell memmap at the end of a priming boot',
        systemRam: [
          { start: 0, end: 0xa0000 },
          { start: 0x100000, end: 0x1f00000 },
        ],
        bootServices: [],
        other: [{ type: 'AcpiNvs', start: 0x1f00000, end: 0x2000000 }],
      },
    ]);
    expect(warm.systemRamPages).toBe(6);
    expect(profile.qemu.version).toBe('QEMU emulator version 0.0.1 (efikdump fake)');
    expect(profile.qemu.args).toEqual(
      expect.arrayContaining(['-nic', 'none', '-nodefaults', 'SIZE', 'memory-backend-file,id=ram0,size=SIZE,mem-path=RAMFILE,share=on']),
    );
    expect(progress.some((l) => /32MiB warm 1\/2: POST to the uefi-shell .* 6 of 8192 pages overwritten in 3 ranges/.test(l))).toBe(true);
    expect(readdirSync(work)).toEqual([]); // RAM files and logs removed
    expect(await allGone(pidFile)).toEqual([]);
  });

  test('a firmware that never finishes POST times out with the serial tail, and QEMU is killed', async () => {
    setMode('hang');
    const e = await runRetentionProbe(options({ resets: ['warm'], repeat: 1, bootTimeoutMs: 800 })).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ProbeError);
    expect((e as ProbeError).message).toMatch(/did not reach the UEFI Shell prompt or the boot manager's "Press any key" within 1 s/);
    expect((e as ProbeError).file).toMatch(/boot-1\.serial\.log$/);
    expect(readdirSync(work)).toEqual([]);
    expect(await allGone(pidFile)).toEqual([]);
  });

  test('QEMU exiting during POST is a ProbeError with its stderr', async () => {
    setMode('crash');
    await expect(runRetentionProbe(options({ resets: ['cold'], repeat: 1 }))).rejects.toThrow(
      /QEMU exited with status 1: fake qemu: cannot boot/,
    );
    expect(await allGone(pidFile)).toEqual([]);
  });

  test('bad options are ConfigErrors before anything starts', async () => {
    await expect(runRetentionProbe(options({ memorySizes: [] }))).rejects.toThrow(ConfigError);
    await expect(runRetentionProbe(options({ memorySizes: [16 * MiB] }))).rejects.toThrow(/at least 32MiB/);
    await expect(runRetentionProbe(options({ repeat: 0 }))).rejects.toThrow(/repeat count/);
    await expect(runRetentionProbe(options({ qemu: join(tmp.dir, 'no-such-qemu') }))).rejects.toThrow(
      /not found on PATH \(install the Debian package qemu-system-x86\)/,
    );
  });

  describe('efikdump probe (the command)', () => {
    const env = () => ({ ...process.env, PATH: `${binDir}:/usr/bin:/bin` });
    const cli = (args: string[]) => spawnSync(process.execPath, [BIN, 'probe', ...args], { encoding: 'utf8', env: env(), timeout: 60_000 });

    test('writes the profile atomically, prints ranges and the placement, progress on stderr', () => {
      const out = join(tmp.dir, 'cli/profile.json');
      const res = cli([
        'retention',
        '--code',
        code,
        '--vars',
        vars,
        '--memory',
        '32MiB',
        '--reset',
        'warm',
        '--work-dir',
        work,
        '--out',
        out,
      ]);
      expect(res.stderr).toMatch(/^probe: 32MiB warm 1\/1: priming boot reached the uefi-shell/m);
      expect(res.stdout).toContain('32MiB warm: 6 pages overwritten in 3 ranges, 6 in System RAM; 1 run agree');
      expect(res.stdout).toContain('  [0x10000, 0x14000) 4 pages');
      expect(res.stdout).toMatch(
        /32MiB warm \(system-ram\): the kernel cannot reserve it: crashkernel="0-1G:128M,.*": size 128MiB .* is not below the installed RAM 32MiB/,
      );
      expect(res.status).toBe(0);
      const p = readRetentionProfile(out);
      expect(p.command).toBe(
        `efikdump probe retention --code ${code} --vars ${vars} --memory 32MiB --reset warm --work-dir ${work} --out ${out}`,
      );
      expect(readdirSync(join(tmp.dir, 'cli'))).toEqual(['profile.json']);
      // TCG unless asked: a /dev/kvm that opens is no proof that KVM runs a guest.
      expect(p.qemu.accel).toBe('tcg');
      expect(p.qemu.args.join(' ')).toContain('accel=tcg');
    });

    test('--accel kvm asks QEMU for KVM and records it; another accelerator is refused', () => {
      const out = join(tmp.dir, 'cli-kvm/profile.json');
      const res = cli([
        'retention',
        '--code',
        code,
        '--vars',
        vars,
        '--memory',
        '32MiB',
        '--reset',
        'warm',
        '--work-dir',
        work,
        '--accel',
        'kvm',
        '--out',
        out,
      ]);
      expect(res.status).toBe(0);
      const p = readRetentionProfile(out);
      expect(p.qemu.accel).toBe('kvm');
      expect(p.qemu.args.join(' ')).toContain('accel=kvm');
      const bad = cli(['retention', '--accel', 'hvf', '--out', join(tmp.dir, 'cli-kvm/bad.json')]);
      expect(bad.status).toBe(2);
      expect(bad.stderr).toContain('--accel expects tcg or kvm, found "hvf"');
    });

    test('--compare exits 1 and prints the pages that differ', () => {
      const committed = join(tmp.dir, 'cli/profile.json');
      const res = cli([
        'retention',
        '--code',
        code,
        '--vars',
        vars,
        '--memory',
        '32MiB',
        '--reset',
        'warm',
        '--work-dir',
        work,
        '--out',
        join(tmp.dir, 'cli/again.json'),
        '--compare',
        committed,
      ]);
      expect(res.stdout).toContain(`agrees with ${committed}`);
      expect(res.status).toBe(0);
      const cold = cli([
        'retention',
        '--code',
        code,
        '--vars',
        vars,
        '--memory',
        '32MiB',
        '--reset',
        'cold',
        '--work-dir',
        work,
        '--out',
        join(tmp.dir, 'cli/cold.json'),
        '--compare',
        committed,
      ]);
      expect(cold.stdout).toContain('32MiB cold: not in the committed profile');
      expect(cold.status).toBe(1);
    });

    test('missing QEMU or OVMF files are clear errors with exit code 2', () => {
      const noQemu = spawnSync(
        process.execPath,
        [BIN, 'probe', 'retention', '--code', code, '--vars', vars, '--out', join(tmp.dir, 'x.json')],
        { encoding: 'utf8', env: { ...process.env, PATH: join(tmp.dir, 'empty') } },
      );
      expect(noQemu.stderr.trim()).toBe('error: qemu: qemu-system-x86_64 not found on PATH (install the Debian package qemu-system-x86)');
      expect(noQemu.status).toBe(2);
      const noCode = cli(['retention', '--code', join(tmp.dir, 'absent.fd'), '--vars', vars, '--out', join(tmp.dir, 'x.json')]);
      expect(noCode.stderr.trim()).toBe(`error: ${join(tmp.dir, 'absent.fd')}:--code: OVMF firmware file not found or not readable`);
      expect(noCode.status).toBe(2);
      const half = cli(['retention', '--code', code, '--out', join(tmp.dir, 'x.json')]);
      expect(half.stderr).toContain('give --code and --vars together');
      expect(cli(['retention', '--code', code, '--vars', vars]).stderr).toContain('--out is required');
      expect(cli(['retention', '--firmware', 'seabios', '--out', 'x']).stderr).toContain('Unknown firmware: seabios (known: ovmf)');
      expect(cli(['crashdump', '--out', 'x']).stderr).toContain('Unknown probe: crashdump (known: retention)');
      expect(existsSync(join(tmp.dir, 'x.json'))).toBe(false);
    });

    test('Ctrl-C (SIGINT) stops QEMU and exits 130, writing nothing', async () => {
      const out = join(tmp.dir, 'cli/interrupted.json');
      setMode('hang');
      const child = spawn(
        process.execPath,
        [
          BIN,
          'probe',
          'retention',
          '--code',
          code,
          '--vars',
          vars,
          '--memory',
          '32MiB',
          '--work-dir',
          work,
          '--boot-timeout',
          '60',
          '--out',
          out,
        ],
        { env: env() },
      );
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      // Wait until QEMU runs: its serial log exists in the run directory.
      const started = () => readdirSync(work).some((d) => existsSync(join(work, d, 'boot-1.serial.log')));
      const deadline = Date.now() + 20_000;
      while (!started() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 200));
      child.kill('SIGINT');
      const code130 = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      expect(stderr).toMatch(/efikdump probe: SIGINT, stopped 1 QEMU process/);
      expect(code130).toBe(130);
      expect(existsSync(out)).toBe(false);
      expect(readdirSync(work)).toEqual([]); // the RAM file is removed too
      expect(await allGone(pidFile)).toEqual([]);
    });
  });
});
