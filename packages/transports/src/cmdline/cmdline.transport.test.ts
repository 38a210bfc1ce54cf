import { GiB, PAGE_SIZE, TransportError, type PhysRange } from '@efikdump/core';
import { bootAndArm, designFor, machine, runStages, type Sim } from '../testing/harness';
import { CMDLINE_LOCATION } from './cmdline.transport';

const sim = (seed: number, ramBytes = 1 * GiB): Sim => machine(designFor('cmdline'), seed, ramBytes);

/** The `memmap=<n>K@<s>K` ranges of a command line, after its `memmap=exactmap`. */
function memmapRanges(cmdline: string): PhysRange[] {
  const args = cmdline.split(/\s+/);
  const exact = args.indexOf('memmap=exactmap');
  expect(exact).toBeGreaterThanOrEqual(0);
  const out: PhysRange[] = [];
  args.forEach((a, i) => {
    const m = /^memmap=(\d+)K@(\d+)K$/.exec(a);
    if (!m) return;
    expect(i).toBeGreaterThan(exact);
    const start = Number(m[2]) * 1024;
    out.push({ start, end: start + Number(m[1]) * 1024 });
  });
  return out;
}

/** The pages of `ranges`, as a sorted list of page addresses. */
function pagesOf(ranges: readonly PhysRange[]): number[] {
  const out: number[] = [];
  for (const r of ranges) for (let a = r.start; a < r.end; a += PAGE_SIZE) out.push(a);
  return out.sort((a, b) => a - b);
}

describe('CmdlineTransport', () => {
  it.each([
    [1, 1 * GiB],
    [2, 6 * GiB],
  ])('prepare loads a capture command line with elfcorehdr= and the reservation minus the elfcorehdr (seed %i)', async (seed, ramBytes) => {
    const s = sim(seed, ramBytes);
    await bootAndArm(s);
    const kernel = s.ctx.state.kernel!;
    const hdr = kernel.elfcorehdr!;
    const cmdline = kernel.captureCmdline!;
    expect(typeof cmdline).toBe('string');
    const args = cmdline.split(/\s+/);
    expect(args.filter((a) => a.startsWith('elfcorehdr='))).toEqual([`elfcorehdr=${hdr.paddr / 1024}K`]);
    expect(args.filter((a) => a === 'memmap=exactmap')).toHaveLength(1);
    // The 1st kernel's console stays; its crashkernel= does not go to the capture kernel.
    expect(args).toContain('console=ttyS0');
    expect(args.some((a) => a.startsWith('crashkernel='))).toBe(false);

    const ranges = memmapRanges(cmdline);
    expect(ranges.length).toBeGreaterThan(0);
    for (const r of ranges) {
      expect(r.start % PAGE_SIZE).toBe(0);
      expect(r.end % PAGE_SIZE).toBe(0);
      expect(r.end).toBeGreaterThan(r.start);
    }
    const hdrPages = new Set(pagesOf([{ start: hdr.paddr, end: hdr.paddr + Math.ceil(hdr.size / PAGE_SIZE) * PAGE_SIZE }]));
    const want = pagesOf(kernel.crashkernel).filter((p) => !hdrPages.has(p));
    const got = pagesOf(ranges);
    expect(got.length).toBe(want.length);
    expect(got).toEqual(want);
    // The elfcorehdr sits inside the reservation.
    for (const p of hdrPages) expect(kernel.crashkernel.some((r) => p >= r.start && p < r.end)).toBe(true);
  });

  it('prepare fails as a stream when no elfcorehdr was loaded', async () => {
    const s = sim(3);
    await expect(runStages(s.ctx, s.transport.prepare())).rejects.toBeInstanceOf(TransportError);
  });

  it('persist records the command line as the handoff, in bytes', async () => {
    const s = sim(4);
    await bootAndArm(s);
    await runStages(s.ctx, s.kernel.panic(), s.transport.persist());
    const cmdline = s.ctx.state.kernel!.captureCmdline!;
    expect(s.ctx.state.handoff).toEqual({ transport: 'cmdline', location: CMDLINE_LOCATION, bytes: Buffer.byteLength(cmdline, 'utf8') });
    expect(s.ctx.metrics.handoffBytes).toBe(Buffer.byteLength(cmdline, 'utf8'));
  });

  it('persist without a loaded command line records a failure', async () => {
    const s = sim(5);
    await bootAndArm(s);
    delete s.ctx.state.kernel!.captureCmdline;
    await runStages(s.ctx, s.transport.persist());
    expect(s.ctx.state.handoff?.bytes).toBe(0);
    expect(s.ctx.state.handoff?.failure).toMatch(/command line/);
  });

  it('discover finds nothing: the command line is not kept anywhere a stub looks', async () => {
    const s = sim(6);
    await bootAndArm(s);
    await runStages(s.ctx, s.kernel.panic(), s.transport.persist());
    const d = s.transport.discover(s.ctx);
    expect(d.found).toBe(false);
    if (!d.found) expect(d.reason.length).toBeGreaterThan(0);
  });

  it('shows the command line as capture-cmdline.txt', async () => {
    const s = sim(7);
    expect(s.transport.artifacts!(s.ctx)).toEqual([]);
    await bootAndArm(s);
    const files = s.transport.artifacts!(s.ctx);
    expect(files.map((f) => f.path)).toEqual(['capture-cmdline.txt']);
    expect(Buffer.from(files[0].bytes).toString('utf8')).toBe(`${s.ctx.state.kernel!.captureCmdline}\n`);
  });

  it('is deterministic per seed', async () => {
    const a = sim(8);
    const b = sim(8);
    await bootAndArm(a);
    await bootAndArm(b);
    expect(a.ctx.state.kernel!.captureCmdline).toBe(b.ctx.state.kernel!.captureCmdline);
  });
});
