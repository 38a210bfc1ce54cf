import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, of } from 'rxjs';
import { MiB, PAGE_SIZE, SimulationError, type VmcoreView } from '@efikdump/core';
import { parseElfCoreHeader } from '../elfcorehdr/parse-elfcorehdr';
import { ProcVmcore } from '../proc-vmcore/proc-vmcore';
import { ElfCoreFile } from '../reader/elf-core-file';
import {
  buildCoreFixture,
  FIXTURE_CRASHKERNEL,
  FIXTURE_HDR_PADDR,
  FIXTURE_HDR_SIZE,
  FIXTURE_SYSTEM_RAM,
  KERNEL_TEXT,
  VMCOREINFO_TEXT,
} from '../testing/core-fixture';
import { expectSameBytes, makeTestContext } from '../testing/run-context';
import { ElfDumpWriter, writeElfDump, type DumpProgress } from './elf.writer';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'efikdump-vmcore-writer-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fixtureView() {
  const fx = buildCoreFixture({ cpus: 2 });
  const m = fx.memory;
  const core = parseElfCoreHeader((p, d) => m.read(p, d), FIXTURE_HDR_PADDR, FIXTURE_HDR_SIZE, { isRam: (p, s) => m.isRam(p, s) });
  return { fx, core, view: ProcVmcore.fromMemory(core, m) };
}

/** A synthetic all-zero view with one marked byte, for sizes a fixture machine does not reach. */
const zeroView = (size: number, marker?: number): VmcoreView => ({
  size,
  read(offset, dst) {
    dst.fill(0);
    if (marker !== undefined && marker >= offset && marker < offset + dst.length) dst[marker - offset] = 0x5a;
  },
  fileOffsetOf: () => undefined,
});

describe('writeElfDump → ElfCoreFile round trip', () => {
  const { fx, core, view } = fixtureView();
  // Zero 4 MiB of the last RAM range: the whole 1 MiB chunks inside it become holes.
  fx.memory.fill({ start: 0x3000000, end: 0x3400000 }, 'zero', 0, 'test zeros');
  let path: string;
  let result: Awaited<ReturnType<typeof writeElfDump>>;
  let file: ElfCoreFile;
  beforeAll(async () => {
    path = join(dir, 'round-trip.vmcore');
    result = await writeElfDump(view, path);
    file = ElfCoreFile.open(path);
  });
  afterAll(() => file.close());

  it("writes the file at its final name with the view's size, and nothing else", () => {
    expect(result).toMatchObject({ path, bytes: view.size });
    expect(statSync(path).size).toBe(view.size);
    expect(readdirSync(dir).filter((f) => f.startsWith('.round-trip'))).toEqual([]);
  });

  it('leaves all-zero chunks as holes: file [0x29a1000, 0x2da1000) holds three whole zero MiB', () => {
    expect(result.dataBytes).toBeLessThanOrEqual(view.size - 3 * MiB);
    const buf = new Uint8Array(PAGE_SIZE);
    expect(file.readPhys(0x3200000, buf)).toBe(true);
    expect(buf.every((b) => b === 0)).toBe(true);
  });

  it('has the same bytes as /proc/vmcore', () => {
    const bytes = readFileSync(path);
    for (const offset of [0, 4096, 0xa02000 - 100, 0xaa1000 - 3000, 0x2da1000 - 50, view.size - 8192]) {
      const want = new Uint8Array(8192);
      view.read(offset, want.subarray(0, Math.min(8192, view.size - offset)));
      expectSameBytes(bytes.subarray(offset, offset + 8192), want.subarray(0, Math.min(8192, view.size - offset)));
    }
  });

  it('reads back the headers, the merged notes, VMCOREINFO and the registers', () => {
    expect(file.header).toMatchObject({ type: 4, machine: 62, phnum: 5, phoff: 64 });
    expect(file.phdrs).toEqual(core.phdrs);
    expect(file.notes().map((n) => [n.name, n.type, n.offset, Buffer.from(n.desc).toString('hex')])).toEqual(
      core.noteList.map((n) => [n.name, n.type, n.offset, Buffer.from(n.desc).toString('hex')]),
    );
    expect(file.vmcoreinfo()?.get('OSRELEASE')).toBe('6.1.0-efikdump');
    expect(file.vmcoreinfo()?.size).toBe(VMCOREINFO_TEXT.split('\n').length - 1);
    expect(file.prstatus()).toEqual(fx.cpus.map((c, cpu) => ({ cpu, pid: c.pid, regs: c.regs })));
  });

  it('reads physical pages as the old memory held them, and nothing of the crashkernel region', () => {
    const got = new Uint8Array(3 * PAGE_SIZE);
    const want = new Uint8Array(3 * PAGE_SIZE);
    for (const r of FIXTURE_SYSTEM_RAM) {
      for (const paddr of [r.start, r.start + 0x777, Math.floor((r.start + r.end) / 2 / PAGE_SIZE) * PAGE_SIZE, r.end - got.length]) {
        expect(file.readPhys(paddr, got)).toBe(true);
        fx.memory.read(paddr, want);
        expectSameBytes(got, want);
      }
    }
    expect(file.fileOffsetOf(KERNEL_TEXT.paddr)).toBe(view.fileOffsetOf(KERNEL_TEXT.paddr));
    expect(file.readPhys(FIXTURE_CRASHKERNEL.start, got)).toBe(false);
    expect(file.readPhys(0x9fc00, got)).toBe(false);
    // A range running off the end of a PT_LOAD is not wholly in the dump.
    expect(file.readPhys(0x2000000 - PAGE_SIZE, got)).toBe(false);
  });
});

describe('writeElfDump', () => {
  it('reports progress at most every 64 MiB, and at the end', async () => {
    const total = 200 * MiB + 5;
    const seen: DumpProgress[] = [];
    const result = await writeElfDump(zeroView(total, total - 1), join(dir, 'progress.vmcore'), (p) => seen.push(p));
    expect(seen).toEqual([64, 128, 192].map((m) => ({ done: m * MiB, total })).concat([{ done: total, total }]));
    expect(result).toMatchObject({ bytes: total, dataBytes: 5 });
    expect(statSync(join(dir, 'progress.vmcore')).size).toBe(total);
    const tail = readFileSync(join(dir, 'progress.vmcore')).subarray(total - 2);
    expect([...tail]).toEqual([0, 0x5a]);
  });

  it('removes the temporary file and never creates the final one when reading fails', async () => {
    const sub = mkdtempSync(join(dir, 'fail-'));
    let reads = 0;
    const failing: VmcoreView = {
      ...zeroView(8 * MiB),
      read: (offset, dst) => {
        if (++reads > 3) throw new SimulationError('old memory went away');
        dst.fill(1);
      },
    };
    await expect(writeElfDump(failing, join(sub, 'dump.vmcore'))).rejects.toThrow('old memory went away');
    expect(readdirSync(sub)).toEqual([]);
  });
});

describe('ElfDumpWriter stage', () => {
  it('writes --out, records state, artifact and metric, and advances the clock at 500 MB/s', async () => {
    const { fx, view } = fixtureView();
    const out = join(dir, 'stage.vmcore');
    const { ctx, events } = makeTestContext(fx.memory, { options: { out } });
    ctx.state.vmcore = view;
    await lastValueFrom(of(ctx).pipe(new ElfDumpWriter(ctx, { dumpLevel: 0, encrypt: false }).operator()));
    expect(ctx.state.dump).toEqual({ path: out, bytes: view.size, format: 'elf' });
    expect(ctx.artifacts.dump).toBe(out);
    expect(ctx.metrics.dumpBytes).toBe(view.size);
    expect(ctx.clock.nowUs).toBe(Math.round(view.size / 500));
    expect(statSync(out).size).toBe(view.size);
    const progress = events.filter((e) => e.kind === 'progress');
    expect(progress).toEqual([expect.objectContaining({ stage: 'dump-write', data: { done: view.size, total: view.size } })]);
    expect(ctx.log.timeline.some((e) => e.kind === 'progress')).toBe(false);
    expect(ctx.log.timeline.map((e) => e.kind)).toEqual(['start', 'info', 'end']);
  });

  it('writes nothing without --out and says so', async () => {
    const { fx, view } = fixtureView();
    const { ctx } = makeTestContext(fx.memory);
    ctx.state.vmcore = view;
    await lastValueFrom(of(ctx).pipe(new ElfDumpWriter(ctx, { dumpLevel: 0, encrypt: false }).operator()));
    expect(ctx.state.dump).toBeUndefined();
    expect(ctx.clock.nowUs).toBe(0);
    expect(ctx.log.timeline.find((e) => e.kind === 'info')?.message).toMatch(/no dump file requested/);
  });

  it('fails the stream (not a synchronous throw) when there is no /proc/vmcore', async () => {
    const { fx } = fixtureView();
    const { ctx } = makeTestContext(fx.memory, { options: { out: join(dir, 'never.vmcore') } });
    const op = new ElfDumpWriter(ctx, { dumpLevel: 0, encrypt: false }).operator();
    await expect(lastValueFrom(of(ctx).pipe(op))).rejects.toBeInstanceOf(SimulationError);
    expect(existsSync(join(dir, 'never.vmcore'))).toBe(false);
  });
});

describe('interoperability: binutils readelf', () => {
  const readelf = spawnSync('readelf', ['--version'], { encoding: 'utf8' });
  const available = readelf.status === 0;
  const required = process.env.EFIKDUMP_REQUIRE_INTEROP === '1';
  const maybe = available || required ? it : it.skip;

  maybe('readelf -l -n sees ET_CORE, one PT_NOTE with the notes, and the PT_LOADs', async () => {
    if (!available) throw new Error('readelf is not on PATH and EFIKDUMP_REQUIRE_INTEROP=1');
    const { view } = fixtureView();
    const path = join(dir, 'readelf.vmcore');
    await writeElfDump(view, path);
    const text = execFileSync('readelf', ['-W', '-l', '-n', path], { encoding: 'utf8' });
    expect(text).toMatch(/Elf file type is CORE \(Core file\)/);
    expect(text.match(/^\s+NOTE\s/gm)).toHaveLength(1);
    expect(text.match(/^\s+LOAD\s/gm)).toHaveLength(4);
    expect(text).toMatch(/LOAD\s+0x0*2000\s+0xffffffff81000000\s+0x0*1000000\s+0x0*a00000\s+0x0*a00000/);
    expect(text.match(/NT_PRSTATUS/g)).toHaveLength(2);
    expect(text).toMatch(/VMCOREINFO\s+0x0*87/);
    expect(text).not.toMatch(/warning|error/i);
  });
});
