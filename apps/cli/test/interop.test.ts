import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { decodeElfHeader, decodeProgramHeaders, PT_LOAD, validateTruth } from '@efikdump/core';
import { efikdump, hasCommand, hasPythonModule, PYTHON, REPO, tempDir, toolAvailable } from './helpers';

const CHECKER = join(REPO, 'tools/interop/check_dump.py');

/** Machines the issue asks for: 256 MiB..16 GiB, 1..64 CPUs (sizes here keep CI within its time). */
const CASES: { seed: number; memory: string; cpus: number }[] = [
  { seed: 1, memory: '256MiB', cpus: 1 },
  { seed: 7, memory: '1GiB', cpus: 3 },
  { seed: 42, memory: '3GiB', cpus: 64 },
  { seed: 99, memory: '5GiB', cpus: 8 },
];

const haveReadelf = toolAvailable(hasCommand('readelf'), 'readelf (binutils)');
const haveKdumpfile = toolAvailable(hasPythonModule('kdumpfile'), 'python3-libkdumpfile');
const haveDrgn = toolAvailable(hasPythonModule('drgn'), 'python3-drgn');

function loadSegments(path: string) {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(64 * 1024);
    const n = readSync(fd, head, 0, head.length, 0);
    const buf = new Uint8Array(head.buffer, head.byteOffset, n);
    const header = decodeElfHeader(buf, { file: path });
    return decodeProgramHeaders(buf, header, { file: path }).filter((p) => p.type === PT_LOAD);
  } finally {
    closeSync(fd);
  }
}

describe.each(CASES)('efikdump run --seed $seed --memory $memory --cpus $cpus', ({ seed, memory, cpus }) => {
  const tmp = tempDir('interop');
  const vmcore = join(tmp.dir, 'x.vmcore');
  const truthPath = join(tmp.dir, 't.json');
  let runOutput = '';

  beforeAll(() => {
    const r = efikdump([
      'run',
      '--design',
      'efi-warm-reserved-memory-ideal-firmware',
      '--seed',
      String(seed),
      '--memory',
      memory,
      '--cpus',
      String(cpus),
      '--out',
      vmcore,
      '--truth',
      truthPath,
    ]);
    runOutput = r.stdout + r.stderr;
    if (r.status !== 0) throw new Error(`efikdump run exited ${r.status}:\n${runOutput}`);
  });
  afterAll(() => tmp.cleanup());

  test('exits 0 with a complete dump', () => {
    expect(runOutput).toContain('outcome: dump-complete');
  });

  (haveReadelf ? test : test.skip)(
    'readelf shows ET_CORE, one PT_NOTE with every CPU and VMCOREINFO, PT_LOADs without the reservation',
    () => {
      const r = spawnSync('readelf', ['-h', '-l', '-n', '-W', vmcore], { encoding: 'utf8', maxBuffer: 64 << 20 });
      expect(r.status).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/Type:\s+CORE \(Core file\)/);
      expect(r.stdout).toMatch(/Machine:\s+Advanced Micro Devices X86-64/);
      expect(r.stdout.match(/^\s+NOTE\s/gm)).toHaveLength(1);
      expect(r.stdout.match(/NT_PRSTATUS/g)).toHaveLength(cpus);
      expect(r.stdout).toMatch(/VMCOREINFO\s+0x[0-9a-f]+\s+Unknown note type: \(0x00000000\)/);
      const truth = validateTruth(JSON.parse(readFileSync(truthPath, 'utf8')), truthPath);
      const loads = [
        ...r.stdout.matchAll(/^\s+LOAD\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)/gm),
      ].map((m) => ({ vaddr: BigInt(m[2]), paddr: Number(m[3]), size: Number(m[4]) }));
      expect(loads.length).toBeGreaterThan(1);
      const directMap = loads.filter((l) => l.vaddr >= 0xffff888000000000n && l.vaddr < 0xffffc88000000000n);
      for (const [start, end] of truth.excluded) {
        for (const l of directMap) expect(l.paddr + l.size <= start || l.paddr >= end).toBe(true);
      }
      const covered = directMap.reduce((s, l) => s + l.size, 0);
      const excluded = truth.excluded.reduce((s, [a, b]) => s + b - a, 0);
      // RAM minus the legacy hole below 1 MiB, the firmware's reserved regions and the reservation.
      const ram = Number(memory.replace(/[^0-9]/g, '')) * (memory.endsWith('GiB') ? 1 << 30 : 1 << 20);
      expect(covered + excluded).toBeGreaterThan(ram - 16 * (1 << 20));
      expect(covered + excluded).toBeLessThanOrEqual(ram);
    },
  );

  (haveKdumpfile ? test : test.skip)('libkdumpfile reads every sampled page with its SHA-256', () => {
    const r = spawnSync(PYTHON, [CHECKER, 'libkdumpfile', vmcore, truthPath], { encoding: 'utf8', maxBuffer: 64 << 20 });
    expect(r.stderr).toBe('');
    const result = JSON.parse(r.stdout);
    expect(result.mismatched).toEqual([]);
    expect(result.missing).toEqual([]);
    expect(result.excluded_present).toEqual([]);
    expect(result.matched).toBe(result.checked);
    expect(result.checked).toBeGreaterThan(1000);
    expect(r.status).toBe(0);
  });

  (haveDrgn ? test : test.skip)('drgn opens it as a kernel core and reads every sampled page with its SHA-256', () => {
    const r = spawnSync(PYTHON, [CHECKER, 'drgn', vmcore, truthPath], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const result = JSON.parse(r.stdout);
    expect(result.info.flags).toContain('IS_LINUX_KERNEL');
    expect(result.mismatched).toEqual([]);
    expect(result.missing).toEqual([]);
    expect(result.excluded_present).toEqual([]);
    expect(result.matched).toBe(result.checked);
    expect(r.status).toBe(0);
  });

  test('efikdump verify agrees, and fails naming the page after one flipped byte', () => {
    const ok = efikdump(['verify', vmcore, '--truth', truthPath]);
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    const truth = validateTruth(JSON.parse(readFileSync(truthPath, 'utf8')), truthPath);
    const victim = truth.pages[Math.floor(truth.pages.length / 2)].paddr;
    const seg = loadSegments(vmcore).find((p) => p.vaddr >= 0xffff888000000000n && victim >= p.paddr && victim < p.paddr + p.filesz)!;
    const offset = seg.offset + (victim - seg.paddr) + 100;
    const fd = openSync(vmcore, 'r+');
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, offset);
    b[0] ^= 0xff;
    writeSync(fd, b, 0, 1, offset);
    closeSync(fd);
    const bad = efikdump(['verify', vmcore, '--truth', truthPath]);
    expect(bad.status).toBe(5);
    expect(bad.stderr).toContain(`first at physical 0x${victim.toString(16)}`);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
  });
});

/**
 * Issue 4: a handoff design's dump passes verify and the foundation's readers. On measured OVMF the
 * plain handoff designs lose VMCOREINFO to POST (no dump): their dumps are checked on the ideal
 * firmware here, and the footprint-aware designs' partial dumps in lost-ranges-interop.test.ts.
 */
describe.each(['efi-warm-reserved-memory-ideal-firmware', 'classic-kexec'])('design %s', (design) => {
  const tmp = tempDir('interop-design');
  const vmcore = join(tmp.dir, 'x.vmcore');
  const truthPath = join(tmp.dir, 't.json');
  beforeAll(() => {
    const r = efikdump([
      'run',
      '--design',
      design,
      '--seed',
      '11',
      '--memory',
      '512MiB',
      '--cpus',
      '2',
      '--out',
      vmcore,
      '--truth',
      truthPath,
    ]);
    if (r.status !== 0) throw new Error(`efikdump run --design ${design} exited ${r.status}:\n${r.stdout}${r.stderr}`);
  });
  afterAll(() => tmp.cleanup());

  test('verify, libkdumpfile and drgn read every sampled page', () => {
    expect(efikdump(['verify', vmcore, '--truth', truthPath]).status).toBe(0);
    for (const [reader, have] of [
      ['libkdumpfile', haveKdumpfile],
      ['drgn', haveDrgn],
    ] as const) {
      if (!have) continue;
      const r = spawnSync(PYTHON, [CHECKER, reader, vmcore, truthPath], { encoding: 'utf8', maxBuffer: 64 << 20 });
      const result = JSON.parse(r.stdout);
      expect(result.mismatched).toEqual([]);
      expect(result.missing).toEqual([]);
      expect(result.matched).toBe(result.checked);
      expect(r.status).toBe(0);
    }
  });
});
