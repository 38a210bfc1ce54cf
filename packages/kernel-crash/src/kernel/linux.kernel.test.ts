import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { lastValueFrom, of } from 'rxjs';
import {
  decodeAscii,
  decodeElfHeader,
  decodeProgramHeaders,
  decodePrStatus,
  EfiMemoryType,
  EFI_MEMORY_WB,
  EventLog,
  GiB,
  MiB,
  NT_PRSTATUS,
  NT_VMCOREINFO,
  PAGE_SIZE,
  parseDesign,
  parseScenario,
  parseVmcoreinfo,
  PhysicalMemory,
  PT_LOAD,
  PT_NOTE,
  Rng,
  hashString,
  intersectRanges,
  kaslrImageRange,
  subtractRanges,
  systemRamFromMemoryMap,
  TiB,
  VirtualClock,
  walkNotes,
  X86_64_REGS,
  type MemoryDescriptor,
  type PhysRange,
  type PhysicalMemory as Memory,
  type RunContext,
  type StageOperator,
} from '@efikdump/core';
import { CRASH_NOTE_BYTES } from './crash-notes';
import {
  INIT_UTS_NS_PHYS,
  KERNEL_IMAGE_BYTES,
  KERNEL_PHYS,
  KERNEL_TEXT_BYTES,
  kernelLayout,
  kernelVirt,
  OSRELEASE,
  PAGE_OFFSET,
  START_KERNEL_MAP,
} from './layout';
import { CAPTURE_IMAGE_BYTES, EPOCH_UNIX, kernelFreeMemory, LinuxKernel } from './linux.kernel';

// ---- harness: a q35-like machine whose firmware has handed over its memory map ----

// nokaslr: the image at 16 MiB, as every built-in design boots (KASLR's effect on placement is tested in crashkernel/memblock.test.ts).
const CMDLINE = 'ro nokaslr crashkernel=0M-1G:96M,1G-4G:192M,4G-64G:256M,64G-:512M';

/** RAM and an EFI memory map shaped like a q35 machine's (low RAM up to 2 GiB, the rest above 4 GiB). */
function q35(ramBytes: number): { ram: PhysRange[]; map: MemoryDescriptor[] } {
  const lowTop = ramBytes <= 2816 * MiB ? ramBytes : 2 * GiB;
  const ram: PhysRange[] = [
    { start: 0, end: 0xa0000 },
    { start: 0x100000, end: lowTop },
  ];
  if (ramBytes > lowTop) ram.push({ start: 4 * GiB, end: 4 * GiB + ramBytes - lowTop });
  const d = (type: number, start: number, end: number): MemoryDescriptor => ({
    type,
    start,
    pages: (end - start) / PAGE_SIZE,
    attribute: EFI_MEMORY_WB,
  });
  const map = [
    d(EfiMemoryType.BootServicesData, 0, PAGE_SIZE),
    d(EfiMemoryType.Conventional, PAGE_SIZE, 0xa0000),
    d(EfiMemoryType.Conventional, 0x100000, lowTop - 8 * MiB),
    d(EfiMemoryType.Reserved, lowTop - 8 * MiB, lowTop - 6 * MiB),
    d(EfiMemoryType.AcpiNvs, lowTop - 6 * MiB, lowTop - 5 * MiB),
    d(EfiMemoryType.RuntimeServicesData, lowTop - 5 * MiB, lowTop - 4 * MiB),
    d(EfiMemoryType.BootServicesData, lowTop - 4 * MiB, lowTop),
  ];
  if (ram[2]) map.push(d(EfiMemoryType.Conventional, ram[2].start, ram[2].end));
  return { ram, map };
}

function machine(
  seed: number,
  ramBytes: number,
  cpus: number,
  pageWrites = 64,
  kernel: { cmdline: string; imagePlacement?: string } = { cmdline: CMDLINE },
): RunContext {
  const { ram, map } = q35(ramBytes);
  const clock = new VirtualClock();
  const design = parseDesign(
    {
      format: 'efikdump-design/1',
      name: 'kernel-test',
      description: 'the 1st kernel alone',
      components: {
        firmware: 'uefi',
        retention: ['retain-all'],
        kernel: 'linux',
        transport: 'reserved-memory',
        exit: 'efi-warm-reset',
        detector: 'reserved-memory-magic',
        stub: 'linux-efi-stub',
        capture: 'linux-vmcore',
        writer: 'elf',
      },
      kernel,
    },
    'kernel-test',
  );
  const scenario = parseScenario(
    {
      format: 'efikdump-scenario/1',
      name: 'kernel-test',
      description: 'the 1st kernel alone',
      machine: { memory: ramBytes, cpus },
      workload: { pageWrites },
    },
    'kernel-test',
  );
  return {
    seed,
    design,
    scenario,
    options: { truthPages: 16, truthZeroPages: 4 },
    machine: { ramBytes, cpus, memory: new PhysicalMemory({ seed, ram }) },
    clock,
    rng: new Rng(seed, 0x5eed),
    log: new EventLog(clock),
    state: { bootCount: 1, memoryMap: map },
    metrics: {},
    artifacts: {},
  };
}

const runStages = (ctx: RunContext, ...ops: StageOperator[]): Promise<RunContext> =>
  lastValueFrom(ops.reduce((obs, op) => obs.pipe(op), of(ctx)));

function read(mem: Memory, paddr: number, size: number): Uint8Array {
  const b = new Uint8Array(size);
  mem.read(paddr, b);
  return b;
}

const readU64 = (mem: Memory, paddr: number): bigint => new DataView(read(mem, paddr, 8).buffer).getBigUint64(0, true);

/**
 * A 4-level x86-64 page-table walk (Intel SDM vol. 3 §4.5) from the PML4 at `pml4` physical,
 * honouring 1 GiB and 2 MiB pages. Undefined where a level is not present.
 */
function translate(mem: Memory, pml4: number, vaddr: bigint): number | undefined {
  const shifts = [39n, 30n, 21n, 12n];
  let table = pml4;
  for (let level = 0; level < 4; level++) {
    const index = Number((vaddr >> shifts[level]) & 511n);
    const entry = readU64(mem, table + index * 8);
    if (!(entry & 1n)) return undefined;
    const frame = entry & 0x000ffffffffff000n;
    const huge = (level === 1 || level === 2) && (entry & 0x80n) !== 0n;
    if (huge || level === 3) {
      const offsetMask = (1n << shifts[level]) - 1n;
      return Number((frame & ~offsetMask) | (vaddr & offsetMask));
    }
    table = Number(frame);
  }
  return undefined;
}

function vmcoreinfoOf(ctx: RunContext): { text: string; lines: Map<string, string> } {
  const k = ctx.state.kernel!;
  const buf = read(ctx.machine.memory, k.vmcoreinfo.paddr, k.vmcoreinfo.size);
  const { notes } = walkNotes(buf);
  expect(notes[0].name).toBe('VMCOREINFO');
  expect(notes[0].type).toBe(NT_VMCOREINFO);
  // drgn checks that the text starts at byte 24 of the note.
  expect(notes[0].desc.byteOffset - buf.byteOffset).toBe(24);
  const text = decodeAscii(buf.subarray(24, 24 + notes[0].desc.length));
  expect(text).toBe(Buffer.from(notes[0].desc).toString('ascii'));
  return { text, lines: parseVmcoreinfo(text) };
}

// ---- tests ----

describe('LinuxKernel: boot', () => {
  it('reserves crashkernel=, loads the capture kernel and the elfcorehdr inside the reservation', async () => {
    for (const [mib, reserved] of [
      [256, 96],
      [1024, 192],
      [4096, 256],
      [8192, 256],
    ] as const) {
      const ctx = machine(1, mib * MiB, 4);
      await runStages(ctx, new LinuxKernel().boot());
      const k = ctx.state.kernel!;
      expect(k.systemRam).toEqual(systemRamFromMemoryMap(ctx.state.memoryMap!));
      expect(k.crashkernel).toHaveLength(1);
      const r = k.crashkernel[0];
      expect(r.end - r.start).toBe(reserved * MiB);
      expect(k.handoffSlot).toBe(r.start);
      expect(k.captureImage).toEqual({ start: r.start + PAGE_SIZE, end: Math.min(r.end, r.start + PAGE_SIZE + CAPTURE_IMAGE_BYTES) });
      const hdr = k.elfcorehdr!;
      expect(hdr.paddr % PAGE_SIZE).toBe(0);
      expect(hdr.paddr).toBeGreaterThanOrEqual(k.captureImage!.end);
      expect(hdr.paddr + hdr.size).toBeLessThanOrEqual(r.end);
      const bytes = read(ctx.machine.memory, hdr.paddr, hdr.size);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(hdr.sha256);
      const phdrs = decodeProgramHeaders(bytes, decodeElfHeader(bytes));
      expect(phdrs.filter((p) => p.type === PT_NOTE).map((p) => p.paddr)).toEqual([...k.crashNotes, k.vmcoreinfo.paddr]);
      expect(
        phdrs
          .filter((p) => p.type === PT_LOAD)
          .slice(1)
          .map((p) => ({ start: p.paddr, end: p.paddr + p.memsz })),
      ).toEqual(subtractRanges(k.systemRam, k.crashkernel));
      // The reservation and the kernel image are apart.
      expect(r.start >= KERNEL_PHYS + KERNEL_IMAGE_BYTES || r.end <= KERNEL_PHYS).toBe(true);
    }
  });

  it('leaves empty crash_notes buffers and a VMCOREINFO without CRASHTIME before the panic', async () => {
    const ctx = machine(2, 1 * GiB, 3);
    await runStages(ctx, new LinuxKernel().boot());
    for (const paddr of ctx.state.kernel!.crashNotes) {
      expect(walkNotes(read(ctx.machine.memory, paddr, CRASH_NOTE_BYTES)).notes).toEqual([]);
    }
    const { lines } = vmcoreinfoOf(ctx);
    expect(lines.get('OSRELEASE')).toBe(OSRELEASE);
    expect(lines.has('CRASHTIME')).toBe(false);
  });
});

describe('LinuxKernel: after the panic', () => {
  async function crashed(seed: number, ramBytes: number, cpus: number): Promise<RunContext> {
    const ctx = machine(seed, ramBytes, cpus);
    const kernel = new LinuxKernel();
    await runStages(ctx, kernel.boot(), kernel.workload(), kernel.panic());
    return ctx;
  }

  it('each CPU\'s crash_notes holds exactly one NT_PRSTATUS "CORE" note of 336 bytes, then a zero header', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 1, max: 128 }), async (seed, cpus) => {
        const ctx = await crashed(seed, 1 * GiB, cpus);
        const k = ctx.state.kernel!;
        expect(k.crashNotes).toHaveLength(cpus);
        expect(k.crashNotesBytes).toBe(368);
        expect(new Set(k.crashNotes.map((p) => Math.floor(p / PAGE_SIZE))).size).toBe(cpus);
        const panic = ctx.state.panic!;
        expect(panic.cpu).toBeGreaterThanOrEqual(0);
        expect(panic.cpu).toBeLessThan(cpus);
        k.crashNotes.forEach((paddr, cpu) => {
          const buf = read(ctx.machine.memory, paddr, CRASH_NOTE_BYTES);
          const { notes, size } = walkNotes(buf);
          expect(notes).toHaveLength(1);
          expect(notes[0]).toMatchObject({ name: 'CORE', type: NT_PRSTATUS, offset: 0 });
          expect(notes[0].desc.length).toBe(336);
          expect(size).toBe(12 + 8 + 336);
          expect(Array.from(buf.subarray(size, size + 12))).toEqual(new Array(12).fill(0));
          const status = decodePrStatus(notes[0].desc);
          if (cpu === panic.cpu) expect(status.pid).toBeGreaterThan(0);
          const rip = status.regs[X86_64_REGS.indexOf('rip')];
          expect(rip >= kernelVirt(KERNEL_PHYS) && rip < kernelVirt(KERNEL_PHYS + KERNEL_TEXT_BYTES)).toBe(true);
        });
      }),
      { numRuns: 40 },
    );
  });

  it('VMCOREINFO carries what the readers need, CRASHTIME included', async () => {
    const ctx = await crashed(3, 4 * GiB, 4);
    const { text, lines } = vmcoreinfoOf(ctx);
    expect(lines.get('OSRELEASE')).toBe(ctx.state.kernel!.osrelease);
    expect(lines.get('PAGESIZE')).toBe('4096');
    expect(lines.get('SYMBOL(swapper_pg_dir)')).toMatch(/^[0-9a-f]+$/);
    expect(BigInt('0x' + lines.get('SYMBOL(swapper_pg_dir)'))).not.toBe(0n);
    expect(lines.get('CRASHTIME')).toBe(String(ctx.state.panic!.unixTime));
    expect(ctx.state.panic!.unixTime).toBeGreaterThanOrEqual(EPOCH_UNIX);
    expect(lines.get('BUILD-ID')).toMatch(/^[0-9a-f]{40}$/);
    // KEY=VALUE lines of at most 80 bytes, the text within a page.
    expect(text.length).toBeLessThanOrEqual(PAGE_SIZE);
    expect(text.endsWith('\n')).toBe(true);
    for (const line of text.slice(0, -1).split('\n')) {
      expect(line).toMatch(/^[A-Za-z0-9_()\-.]+=\S+$/);
      expect(line.length + 1).toBeLessThanOrEqual(80);
    }
  });

  describe('page tables at SYMBOL(init_top_pgt)', () => {
    it.each([256 * MiB, 4 * GiB, 8 * GiB, 1 * TiB])('translate kernel and direct-map addresses (%d bytes of RAM)', async (ramBytes) => {
      const ctx = await crashed(4, ramBytes, 2);
      const mem = ctx.machine.memory;
      const { lines } = vmcoreinfoOf(ctx);
      const sym = (name: string): bigint => BigInt('0x' + lines.get(`SYMBOL(${name})`));
      expect(lines.get('NUMBER(phys_base)')).toBe('0');
      expect(lines.get('NUMBER(pgtable_l5_enabled)')).toBe('0');
      expect(sym('swapper_pg_dir')).toBe(sym('init_top_pgt'));
      const pml4 = Number(sym('init_top_pgt') - START_KERNEL_MAP);

      // init_uts_ns through the kernel map, and the utsname it holds.
      const uts = translate(mem, pml4, sym('init_uts_ns'));
      expect(uts).toBe(INIT_UTS_NS_PHYS);
      const name = read(mem, uts! + Number(lines.get('OFFSET(uts_namespace.name)')), 6 * 65);
      expect(decodeAscii(name.subarray(0, 65))).toBe('Linux');
      expect(decodeAscii(name.subarray(2 * 65, 3 * 65))).toBe(OSRELEASE);
      expect(decodeAscii(name.subarray(4 * 65, 5 * 65))).toBe('x86_64');
      expect(translate(mem, pml4, sym('_stext'))).toBe(KERNEL_PHYS);
      expect(translate(mem, pml4, kernelVirt(KERNEL_PHYS + 0x123456))).toBe(KERNEL_PHYS + 0x123456);

      // The direct map covers all of RAM, 0xffff888000000000 + paddr.
      const rng = new Rng(ramBytes / MiB);
      const samples = [0, 0x9f000, 0x100000 + 7, ...mem.ram.flatMap((r) => [r.start, r.end - 1, r.start + rng.below(r.end - r.start)])];
      for (const paddr of samples) expect(translate(mem, pml4, PAGE_OFFSET + BigInt(paddr))).toBe(paddr);

      // ... and nothing above it; vmalloc space is not mapped.
      const maxPhys = Math.max(...mem.ram.map((r) => r.end));
      const firstUnmapped = Math.ceil(maxPhys / GiB) * GiB;
      expect(translate(mem, pml4, PAGE_OFFSET + BigInt(firstUnmapped))).toBeUndefined();
      expect(translate(mem, pml4, 0xffffc90000000000n)).toBeUndefined();
    });
  });
});

describe('LinuxKernel: the workload', () => {
  it('never writes inside the reservation, the kernel image, the first MiB or outside System RAM', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.constantFrom(256 * MiB, 300 * MiB, 1 * GiB, 2816 * MiB, 3 * GiB, 8 * GiB),
        async (seed, ramBytes) => {
          const ctx = machine(seed, ramBytes, 2, 300);
          const kernel = new LinuxKernel();
          await runStages(ctx, kernel.boot());
          const k = ctx.state.kernel!;
          const mem = ctx.machine.memory;
          const image = { start: KERNEL_PHYS, end: KERNEL_PHYS + KERNEL_IMAGE_BYTES };
          const snapshot = (r: PhysRange) => mem.writtenFrames(r).map((pfn) => `${pfn}:${mem.pageSha256(pfn)}`);
          const before = [...k.crashkernel, image].map(snapshot);
          const writes: PhysRange[] = [];
          const spy = jest.spyOn(mem, 'write').mockImplementation(function (this: Memory, paddr: number, src: Uint8Array) {
            writes.push({ start: paddr, end: paddr + src.length });
            return PhysicalMemory.prototype.write.call(this, paddr, src);
          });
          try {
            await runStages(ctx, kernel.workload());
          } finally {
            spy.mockRestore();
          }
          expect(writes).toHaveLength(300);
          const forbidden = [...k.crashkernel, image, { start: 0, end: 0x100000 }];
          const bad = writes.filter(
            (w) =>
              w.start % PAGE_SIZE !== 0 ||
              w.end - w.start !== PAGE_SIZE ||
              !k.systemRam.some((r) => w.start >= r.start && w.end <= r.end) ||
              forbidden.some((f) => w.start < f.end && f.start < w.end),
          );
          expect(bad).toEqual([]);
          expect([...k.crashkernel, image].map(snapshot)).toEqual(before);
        },
      ),
      { numRuns: 20 },
    );
  });
});

describe('LinuxKernel: a relocated image (kernel.imagePlacement, phys_base ≠ 0)', () => {
  const KASLR_CMDLINE = CMDLINE.replace(' nokaslr', '');
  async function crashedWith(
    seed: number,
    ramBytes: number,
    kernel: { cmdline: string; imagePlacement?: string },
    postPrediction?: PhysRange[],
  ): Promise<RunContext> {
    const ctx = machine(seed, ramBytes, 2, 64, kernel);
    if (postPrediction) ctx.state.firmware = { postPrediction } as unknown as RunContext['state']['firmware'];
    const k = new LinuxKernel();
    await runStages(ctx, k.boot(), k.workload(), k.panic());
    return ctx;
  }

  /** What a dump tool does with the note: phys_base from NUMBER(phys_base), then a page walk from init_top_pgt. */
  function checkRelocated(ctx: RunContext, base: number): void {
    const k = ctx.state.kernel!;
    const mem = ctx.machine.memory;
    const physBase = base - KERNEL_PHYS;
    const { lines } = vmcoreinfoOf(ctx);
    const sym = (name: string): bigint => BigInt('0x' + lines.get(`SYMBOL(${name})`));
    expect(lines.get('NUMBER(phys_base)')).toBe(String(physBase));
    // Symbols are virtual and do not move with the image.
    expect(sym('_stext')).toBe(START_KERNEL_MAP + BigInt(KERNEL_PHYS));
    expect(k.kernelText).toEqual({ paddr: base, vaddr: START_KERNEL_MAP + BigInt(KERNEL_PHYS), size: KERNEL_IMAGE_BYTES });
    const pml4 = Number(sym('init_top_pgt') - START_KERNEL_MAP) + physBase;
    expect(pml4).toBe(kernelLayout(base).pageTables);
    expect(translate(mem, pml4, sym('_stext'))).toBe(base);
    expect(translate(mem, pml4, sym('_stext') + 0x123456n)).toBe(base + 0x123456);
    const uts = translate(mem, pml4, sym('init_uts_ns'))!;
    expect(uts).toBe(kernelLayout(base).initUtsNs);
    const name = read(mem, uts, 6 * 65);
    expect(decodeAscii(name.subarray(0, 65))).toBe('Linux');
    expect(decodeAscii(name.subarray(2 * 65, 3 * 65))).toBe(OSRELEASE);
    // mem_map's pointer is read through the kernel map too.
    const memMapPtr = translate(mem, pml4, sym('mem_map'))!;
    expect(memMapPtr).toBe(kernelLayout(base).memMapPtr);
    expect(readU64(mem, memMapPtr)).toBeGreaterThanOrEqual(PAGE_OFFSET);
    // The image is text then data, where the stub put it; crash_notes live in its per-CPU area.
    expect(mem.kindOf(base / PAGE_SIZE).kind).toBe('kernel-text');
    for (const paddr of k.crashNotes) expect(paddr >= base && paddr < base + KERNEL_IMAGE_BYTES).toBe(true);
    // The reservation, the allocator's memory and the workload keep off the image.
    const image = { start: base, end: base + KERNEL_IMAGE_BYTES };
    expect(intersectRanges(k.crashkernel, [image])).toEqual([]);
    expect(intersectRanges(kernelFreeMemory(k), [image])).toEqual([]);
    // The elfcorehdr's kernel-text PT_LOAD: paddr the base, vaddr _stext, so p_paddr − (p_vaddr − __START_KERNEL_map) is phys_base.
    const hdr = read(mem, k.elfcorehdr!.paddr, k.elfcorehdr!.size);
    const text = decodeProgramHeaders(hdr, decodeElfHeader(hdr)).find((p) => p.type === PT_LOAD && p.vaddr >= START_KERNEL_MAP)!;
    expect([text.paddr, text.vaddr, text.memsz]).toEqual([base, START_KERNEL_MAP + BigInt(KERNEL_PHYS), KERNEL_IMAGE_BYTES]);
    expect(text.paddr - Number(text.vaddr - START_KERNEL_MAP)).toBe(physBase);
  }

  it.each([1, 2, 3, 4, 5])('kaslr: the image runs at the seeded KASLR slot (seed %i)', async (seed) => {
    const ctx = await crashedWith(seed, 1 * GiB, { cmdline: KASLR_CMDLINE, imagePlacement: 'kaslr' });
    const slot = kaslrImageRange(ctx.state.memoryMap!, KERNEL_IMAGE_BYTES, new Rng(seed, hashString('kaslr')));
    expect(slot.start).not.toBe(KERNEL_PHYS);
    checkRelocated(ctx, slot.start);
    expect(ctx.metrics.kernelImageBase).toBe(slot.start);
  });

  it('avoid-footprint: the lowest 2 MiB slot from 16 MiB up outside the predicted POST ranges (nokaslr)', async () => {
    const ctx = await crashedWith(1, 1 * GiB, { cmdline: CMDLINE, imagePlacement: 'avoid-footprint' }, [
      { start: 16 * MiB, end: 0x16e1000 },
      { start: 900 * MiB, end: 1000 * MiB },
    ]);
    checkRelocated(ctx, 0x1800000);
  });

  it('avoid-footprint with KASLR on: a seeded slot, never in the predicted ranges', async () => {
    const predicted = [
      { start: 16 * MiB, end: 0x16e1000 },
      { start: 100 * MiB, end: 700 * MiB },
    ];
    for (const seed of [1, 2, 3]) {
      const ctx = await crashedWith(seed, 1 * GiB, { cmdline: KASLR_CMDLINE, imagePlacement: 'avoid-footprint' }, predicted);
      const base = ctx.state.kernel!.kernelText.paddr;
      expect(base % (2 * MiB)).toBe(0);
      expect(intersectRanges([{ start: base, end: base + KERNEL_IMAGE_BYTES }], predicted)).toEqual([]);
      checkRelocated(ctx, base);
    }
  });

  it('fixed-16m (the default) keeps phys_base 0 with KASLR on, as before images could move', async () => {
    for (const kernel of [{ cmdline: KASLR_CMDLINE }, { cmdline: KASLR_CMDLINE, imagePlacement: 'fixed-16m' }]) {
      const ctx = await crashedWith(2, 1 * GiB, kernel);
      expect(ctx.state.kernel!.kernelText.paddr).toBe(KERNEL_PHYS);
      expect(vmcoreinfoOf(ctx).lines.get('NUMBER(phys_base)')).toBe('0');
      expect(ctx.metrics.kernelImageBase).toBeUndefined();
    }
  });
});

describe('kernelLayout', () => {
  it('puts every structure at the same offset from the base, phys_base = base − 16 MiB', () => {
    const a = kernelLayout();
    const b = kernelLayout(0x1800000);
    expect(a.physBase).toBe(0);
    expect(b.physBase).toBe(0x800000);
    for (const key of ['percpu', 'pageTables', 'vmcoreinfo', 'initUtsNs', 'memMapPtr'] as const) expect(b[key] - a[key]).toBe(0x800000);
    expect(a.initUtsNs).toBe(INIT_UTS_NS_PHYS);
    expect(kernelVirt(b.initUtsNs, b.physBase)).toBe(kernelVirt(a.initUtsNs));
  });

  it.each([0, 8 * MiB, 17 * MiB, 16 * MiB + 4096, Number.NaN])('refuses base %d (below 16 MiB or off the 2 MiB alignment)', (base) => {
    expect(() => kernelLayout(base)).toThrow(RangeError);
  });
});
