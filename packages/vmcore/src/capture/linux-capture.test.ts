import { lastValueFrom, of } from 'rxjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PAGE_SIZE, PhysicalMemory, SimulationError, type StubState } from '@efikdump/core';
import { ElfCoreFile } from '../reader/elf-core-file';
import { buildCoreFixture, FIXTURE_HDR_PADDR } from '../testing/core-fixture';
import { makeTestContext } from '../testing/run-context';
import { ElfDumpWriter } from '../writers/elf.writer';
import { CAPTURE_KERNEL_FOOTPRINT_BYTES, LinuxCaptureKernel, MODELLED_CAPTURE_BOOT_US } from './linux-capture';

const stub = (
  captureCmdline: string,
  captureRam = [
    { start: 0x2000000, end: 0x2800000 },
    { start: 0x2810000, end: 0x3000000 },
  ],
): StubState => ({ crashedBoot: true, detector: 'test', reason: 'test crash', captureCmdline, captureRam });

/** vmcore init and the ELF writer over a fixture; with `boot`, the capture kernel's boot first (the fixture's 16 MiB of capture RAM is too small for it to run). */
async function runCapture(memory: PhysicalMemory, s: StubState | undefined, out?: string, boot = false) {
  const t = makeTestContext(memory, { stub: s, options: out ? { out } : {} });
  const capture = new LinuxCaptureKernel(t.ctx);
  const stages = boot ? [capture.boot(), capture.vmcoreInit()] : [capture.vmcoreInit()];
  await lastValueFrom(
    stages.reduce((obs, op) => obs.pipe(op), of(t.ctx)).pipe(new ElfDumpWriter(t.ctx, { dumpLevel: 0, encrypt: false }).operator()),
  );
  return t;
}

describe('LinuxCaptureKernel.boot', () => {
  it('loads the image into the first half of the first capture RAM range, and nowhere else', async () => {
    const { memory } = buildCoreFixture();
    const { ctx } = await runCapture(memory, stub('ro'), undefined, true);
    // 8 MiB range → 4 MiB image at its start.
    expect(memory.kindFills).toEqual([
      expect.objectContaining({ start: 0x2000000, end: 0x2400000, kind: 'kernel-text', label: 'capture-kernel' }),
    ]);
    expect(memory.kindOf(0x2000000 / PAGE_SIZE).kind).toBe('kernel-text');
    // It boots, and then the 16 MiB of capture RAM are not enough.
    expect(ctx.clock.nowUs).toBe(MODELLED_CAPTURE_BOOT_US);
    expect(ctx.outcome?.outcome).toBe('capture-oom');
    expect(ctx.outcome?.reason).toMatch(/^the capture kernel needs \d+(\.\d+)?MiB \(.*\) but has 15\.9MiB: out of memory$/);
    expect(ctx.metrics.captureMemoryNeededBytes).toBeGreaterThan(ctx.metrics.captureRamBytes as number);
  });

  it('boots in the full modelled time when the capture RAM covers what it needs', async () => {
    const memory = new PhysicalMemory({ seed: 1, ram: [{ start: 0, end: 1 << 30 }] });
    const t = makeTestContext(memory, { stub: stub('ro', [{ start: 0x10000000, end: 0x20000000 }]) });
    await lastValueFrom(of(t.ctx).pipe(new LinuxCaptureKernel(t.ctx).boot()));
    expect(t.ctx.outcome).toBeUndefined();
    expect(t.ctx.clock.nowUs).toBe(MODELLED_CAPTURE_BOOT_US);
    expect(t.ctx.metrics.captureRamBytes).toBe(256 * 2 ** 20);
  });

  it('caps the image at 64 MiB and page-aligns an unaligned range', async () => {
    const memory = new PhysicalMemory({ seed: 1, ram: [{ start: 0, end: 1 << 30 }] });
    const t = makeTestContext(memory, { stub: stub('ro', [{ start: 0x10000800, end: 0x30000000 }]) });
    await lastValueFrom(of(t.ctx).pipe(new LinuxCaptureKernel(t.ctx).boot()));
    expect(memory.kindFills).toEqual([expect.objectContaining({ start: 0x10001000, end: 0x10001000 + CAPTURE_KERNEL_FOOTPRINT_BYTES })]);
  });

  it('warns when the first range has no whole page to spare', async () => {
    const memory = new PhysicalMemory({ seed: 1, ram: [{ start: 0, end: 1 << 26 }] });
    const t = makeTestContext(memory, { stub: stub('ro', [{ start: 0x100000, end: 0x101000 }]) });
    await lastValueFrom(of(t.ctx).pipe(new LinuxCaptureKernel(t.ctx).boot()));
    expect(memory.kindFills).toEqual([]);
    expect(t.ctx.log.timeline.some((e) => e.kind === 'warn')).toBe(true);
  });

  it('decides no-dump when the stub saw no crash, and fails the stream without a stub', async () => {
    const { memory } = buildCoreFixture();
    const t = await runCapture(memory, { crashedBoot: false, detector: 'test', reason: 'no marker' }, undefined, true);
    expect(t.ctx.outcome).toEqual({ outcome: 'no-dump', reason: 'the stub did not detect a crashed boot: no marker' });
    expect(t.ctx.state.vmcore).toBeUndefined();
    await expect(runCapture(memory, undefined, undefined, true)).rejects.toBeInstanceOf(SimulationError);
  });
});

describe('LinuxCaptureKernel.vmcoreInit', () => {
  it.each([
    ['size@offset in hex', 'elfcorehdr=0x4000@0x2800000'],
    ['kexec-tools KiB form', 'elfcorehdr=40960K'],
  ])('builds /proc/vmcore from elfcorehdr= (%s)', async (_, param) => {
    const { memory } = buildCoreFixture();
    const { ctx } = await runCapture(memory, stub(`ro irqpoll maxcpus=1 ${param}`));
    expect(ctx.outcome).toBeUndefined();
    expect(ctx.state.vmcore?.size).toBe(0x39a1000);
    expect(ctx.metrics).toMatchObject({ vmcoreBytes: 0x39a1000, vmcoreNotes: 3 });
    expect(ctx.log.timeline.find((e) => e.stage === 'vmcore-init' && e.kind === 'info')?.message).toMatch(/4 PT_LOADs, 3 notes/);
  });

  it('ends the run with no-dump, not an exception, when the elfcorehdr is corrupt', async () => {
    const { memory } = buildCoreFixture();
    memory.write(FIXTURE_HDR_PADDR, new Uint8Array([0x7f, 0x45, 0x4c, 0x00]));
    const { ctx } = await runCapture(memory, stub('elfcorehdr=0x4000@0x2800000'));
    expect(ctx.outcome).toEqual({
      outcome: 'no-dump',
      reason: 'vmcore init failed: old memory:0x2800000: ELF magic: expected 7f 45 4c 46, found 7f 45 4c 00',
    });
    expect(ctx.state.vmcore).toBeUndefined();
  });

  it('ends with no-dump without elfcorehdr= or with a malformed one', async () => {
    const { memory } = buildCoreFixture();
    let t = await runCapture(memory, stub('ro quiet'));
    expect(t.ctx.outcome?.reason).toMatch(/no elfcorehdr=/);
    t = await runCapture(memory, stub('elfcorehdr=banana'));
    expect(t.ctx.outcome).toMatchObject({
      outcome: 'no-dump',
      reason: expect.stringMatching(/^vmcore init failed: elfcorehdr: expected a number/),
    });
    t = await runCapture(memory, stub('elfcorehdr=0x20000@0x2800000'));
    expect(t.ctx.outcome?.reason).toMatch(/elfcorehdr size: expected 64 to 65536 bytes/);
  });

  it('vmcore init and the ELF writer give a dump that holds the old memory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'efikdump-vmcore-capture-'));
    try {
      const { memory } = buildCoreFixture();
      const out = join(dir, 'dump.vmcore');
      const { ctx } = await runCapture(memory, stub('elfcorehdr=40960K'), out);
      expect(ctx.state.dump).toEqual({ path: out, bytes: 0x39a1000, format: 'elf' });
      const core = ElfCoreFile.open(out);
      try {
        const got = new Uint8Array(PAGE_SIZE);
        const want = new Uint8Array(PAGE_SIZE);
        for (const paddr of [0x1000, 0x150000, 0x1f00000, 0x3ff0000]) {
          expect(core.readPhys(paddr, got)).toBe(true);
          memory.read(paddr, want);
          expect(Buffer.compare(got, want)).toBe(0);
        }
        expect(core.readPhys(0x2000000, got)).toBe(false);
        expect(core.prstatus().map((c) => c.pid)).toEqual([1234, 0]);
      } finally {
        core.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
