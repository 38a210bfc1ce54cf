import fc from 'fast-check';
import { ConfigError } from '../errors';
import { totalSize, type PhysRange } from '../memory/ranges';
import { GiB, MiB, TiB } from '../units';
import {
  crashkernelSize,
  parseCrashkernel,
  parseCrashkernelValue,
  placeCrashkernel,
  type CrashkernelPlacement,
  type CrashkernelSpec,
} from './crashkernel';

const FOUR_GIB = 4 * GiB;
const ALIGN = 16 * MiB;
const DEFAULT_LOW = 256 * MiB;

/** A typical x86_64 e820 map: 640 KiB of base memory, low RAM from 1 MiB, the rest above 4 GiB. */
function typicalMap(lowEnd: number, highBytes: number): PhysRange[] {
  const ram: PhysRange[] = [
    { start: 0, end: 0x9f000 },
    { start: 0x100000, end: lowEnd },
  ];
  if (highBytes > 0) ram.push({ start: FOUR_GIB, end: FOUR_GIB + highBytes });
  return ram;
}

/** A machine with `ramBytes` installed: up to 2 GiB below the PCI hole, the rest above 4 GiB. */
function machine(ramBytes: number): { ram: PhysRange[]; ramBytes: number } {
  const ram = typicalMap(Math.min(ramBytes, 2 * GiB), Math.max(0, ramBytes - 2 * GiB));
  return { ram, ramBytes: totalSize(ram) };
}

const place = (cmdline: string, m: { ram: PhysRange[]; ramBytes: number }): CrashkernelPlacement | undefined => {
  const spec = parseCrashkernel(cmdline);
  if (!spec) throw new Error(`no crashkernel= in ${cmdline}`);
  return placeCrashkernel(spec, m.ram, m.ramBytes);
};

function configError(f: () => unknown): ConfigError {
  try {
    f();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('parseCrashkernelValue: memparse numbers', () => {
  it.each([
    ['256M', 256 * MiB],
    ['256m', 256 * MiB],
    ['4096K', 4 * MiB],
    ['1G', GiB],
    ['2T', 2 * TiB],
    ['7P', 7 * 1024 * TiB],
    ['16777216', 16 * MiB],
    ['0x1000000', 16 * MiB],
    ['0X10M', 16 * MiB],
    // a hex number takes 'E' as a digit, as simple_strtoull does
    ['0x1E', 30],
    // base 0: a leading 0 is octal
    ['010M', 8 * MiB],
  ])('%s is %d bytes', (text, bytes) => {
    expect(parseCrashkernelValue(text)).toEqual({ form: 'size', size: bytes });
  });

  it('rejects unit spellings memparse does not know', () => {
    expect(() => parseCrashkernelValue('512MiB')).toThrow(/at offset 4: expected .*found 'i'/);
    expect(() => parseCrashkernelValue('512MB')).toThrow(/at offset 4: .*found 'B'/);
  });

  it('rejects values above 2^53 instead of wrapping like the kernel', () => {
    expect(() => parseCrashkernelValue('8P')).toThrow(/at offset 0: expected a memory value below 2\^53 bytes/);
    expect(() => parseCrashkernelValue('1E')).toThrow(ConfigError);
    expect(() => parseCrashkernelValue('99999999999999999999')).toThrow(/below 2\^53/);
    expect(() => parseCrashkernelValue(`0x${'f'.repeat(200)}`)).toThrow(/below 2\^53/);
  });

  it('explains a non-octal digit after a leading 0', () => {
    expect(() => parseCrashkernelValue('08M')).toThrow(/at offset 1: expected an octal digit/);
  });
});

describe('parseCrashkernelValue: the documented forms', () => {
  it('size and size@offset', () => {
    expect(parseCrashkernelValue('256M')).toEqual({ form: 'size', size: 256 * MiB });
    expect(parseCrashkernelValue('256M@16M')).toEqual({ form: 'size', size: 256 * MiB, offset: 16 * MiB });
    expect(parseCrashkernelValue('128M@0x3000000')).toEqual({ form: 'size', size: 128 * MiB, offset: 48 * MiB });
  });

  it('the ranges form of kdump.rst, with end exclusive and an open last range', () => {
    expect(parseCrashkernelValue('512M-2G:64M,2G-:128M')).toEqual({
      form: 'ranges',
      ranges: [
        { start: 512 * MiB, end: 2 * GiB, size: 64 * MiB },
        { start: 2 * GiB, size: 128 * MiB },
      ],
    });
    const withOffset = parseCrashkernelValue('512M-2G:64M,2G-:128M@16M');
    expect(withOffset).toEqual({
      form: 'ranges',
      ranges: [
        { start: 512 * MiB, end: 2 * GiB, size: 64 * MiB },
        { start: 2 * GiB, size: 128 * MiB },
      ],
      offset: 16 * MiB,
    });
    expect(parseCrashkernelValue('0M-1G:96M')).toEqual({
      form: 'ranges',
      ranges: [{ start: 0, end: GiB, size: 96 * MiB }],
    });
  });

  it('allows gaps between ranges', () => {
    const spec = parseCrashkernelValue('1G-2G:64M,4G-:128M');
    expect(spec.form).toBe('ranges');
  });

  it(',high and ,low', () => {
    expect(parseCrashkernelValue('256M,high')).toEqual({ form: 'high', size: 256 * MiB });
    expect(parseCrashkernelValue('128M,low')).toEqual({ form: 'low-only', low: 128 * MiB });
    expect(parseCrashkernelValue('0,low')).toEqual({ form: 'low-only', low: 0 });
  });
});

describe('parseCrashkernel: a whole command line', () => {
  it('is undefined without crashkernel=', () => {
    expect(parseCrashkernel('BOOT_IMAGE=/vmlinuz-6.12 root=/dev/sda1 ro quiet')).toBeUndefined();
    expect(parseCrashkernel('')).toBeUndefined();
    // only whole parameters count
    expect(parseCrashkernel('kdump.crashkernel=256M')).toBeUndefined();
  });

  it('reads the distribution default line', () => {
    expect(parseCrashkernel('BOOT_IMAGE=/vmlinuz ro crashkernel=2G-64G:256M,64G-:512M rhgb quiet')).toEqual({
      form: 'ranges',
      ranges: [
        { start: 2 * GiB, end: 64 * GiB, size: 256 * MiB },
        { start: 64 * GiB, size: 512 * MiB },
      ],
    });
  });

  it('takes the last plain crashkernel=', () => {
    expect(parseCrashkernel('crashkernel=128M crashkernel=256M@16M')).toEqual({
      form: 'size',
      size: 256 * MiB,
      offset: 16 * MiB,
    });
  });

  it('combines ,high with ,low in any order', () => {
    const expected = { form: 'high', size: 512 * MiB, low: 128 * MiB };
    expect(parseCrashkernel('ro crashkernel=512M,high crashkernel=128M,low')).toEqual(expected);
    expect(parseCrashkernel('crashkernel=128M,low crashkernel=512M,high')).toEqual(expected);
    expect(parseCrashkernel('crashkernel=1G,high crashkernel=0,low')).toEqual({ form: 'high', size: GiB, low: 0 });
    expect(parseCrashkernel('crashkernel=1G,high')).toEqual({ form: 'high', size: GiB });
  });

  it('ignores ,high and ,low when a plain crashkernel= is given', () => {
    expect(parseCrashkernel('crashkernel=512M,high crashkernel=256M crashkernel=64M,low')).toEqual({
      form: 'size',
      size: 256 * MiB,
    });
  });

  it('keeps a lone ,low as low-only, which reserves nothing', () => {
    const spec = parseCrashkernel('crashkernel=128M,low');
    expect(spec).toEqual({ form: 'low-only', low: 128 * MiB });
    expect(crashkernelSize(spec!, 8 * GiB)).toBe(0);
    expect(placeCrashkernel(spec!, machine(8 * GiB).ram, 8 * GiB)).toBeUndefined();
  });

  it('skips ,cma reservations, which are not modelled', () => {
    expect(parseCrashkernel('crashkernel=256M,cma')).toBeUndefined();
    expect(parseCrashkernel('crashkernel=256M,cma crashkernel=192M')).toEqual({ form: 'size', size: 192 * MiB });
    expect(() => parseCrashkernelValue('256M,cma')).toThrow(/',cma' reservations are not modelled/);
  });

  it('checks every crashkernel= value, even one a later one overrides', () => {
    expect(() => parseCrashkernel('crashkernel=256Q crashkernel=256M')).toThrow(/crashkernel="256Q": at offset 3/);
  });
});

describe('crashkernelSize', () => {
  // Distribution defaults (domain reference §9.1), with RAM rounded up to 128 MiB as the kernel does.
  it.each([
    ['2G-64G:256M,64G-:512M', 1 * GiB, 0],
    ['2G-64G:256M,64G-:512M', 2 * GiB, 256 * MiB],
    ['2G-64G:256M,64G-:512M', 8 * GiB, 256 * MiB],
    ['2G-64G:256M,64G-:512M', 64 * GiB, 512 * MiB],
    ['2G-64G:256M,64G-:512M', 1 * TiB, 512 * MiB],
    ['1G-4G:192M,4G-64G:256M,64G-:512M', 512 * MiB, 0],
    ['1G-4G:192M,4G-64G:256M,64G-:512M', 1 * GiB, 192 * MiB],
    ['1G-4G:192M,4G-64G:256M,64G-:512M', 4 * GiB - 1, 256 * MiB],
    ['1G-4G:192M,4G-64G:256M,64G-:512M', 4 * GiB - 128 * MiB, 192 * MiB],
    ['1G-4G:192M,4G-64G:256M,64G-:512M', 32 * GiB, 256 * MiB],
    ['1G-4G:192M,4G-64G:256M,64G-:512M', 96 * GiB, 512 * MiB],
    ['1G-4G:160M,4G-64G:192M,64G-1T:256M,1T-:512M', 2 * GiB, 160 * MiB],
    ['1G-4G:160M,4G-64G:192M,64G-1T:256M,1T-:512M', 16 * GiB, 192 * MiB],
    ['1G-4G:160M,4G-64G:192M,64G-1T:256M,1T-:512M', 512 * GiB, 256 * MiB],
    ['1G-4G:160M,4G-64G:192M,64G-1T:256M,1T-:512M', 2 * TiB, 512 * MiB],
    ['2G-4G:256M,4G-64G:320M,64G-:576M', 3 * GiB, 256 * MiB],
    ['2G-4G:256M,4G-64G:320M,64G-:576M', 128 * GiB, 576 * MiB],
    ['2G-4G:384M,4G-16G:512M,16G-64G:1G,64G-128G:2G,128G-:4G', 8 * GiB, 512 * MiB],
    ['2G-4G:384M,4G-16G:512M,16G-64G:1G,64G-128G:2G,128G-:4G', 100 * GiB, 2 * GiB],
    ['2G-4G:384M,4G-16G:512M,16G-64G:1G,64G-128G:2G,128G-:4G', 256 * GiB, 4 * GiB],
  ])('%s with %d bytes of RAM gives %d', (value, ramBytes, size) => {
    expect(crashkernelSize(parseCrashkernelValue(value), ramBytes)).toBe(size);
  });

  it('matches a typical map whose RAM is a little below 2 GiB as 2 GiB', () => {
    const m = machine(2 * GiB);
    expect(m.ramBytes).toBeLessThan(2 * GiB);
    expect(crashkernelSize(parseCrashkernelValue('2G-64G:256M,64G-:512M'), m.ramBytes)).toBe(256 * MiB);
  });

  it('returns the fixed sizes of the other forms', () => {
    expect(crashkernelSize({ form: 'size', size: 256 * MiB }, 8 * GiB)).toBe(256 * MiB);
    expect(crashkernelSize({ form: 'high', size: GiB, low: 0 }, 8 * GiB)).toBe(GiB);
  });

  it('rejects a size not below RAM', () => {
    expect(() => crashkernelSize(parseCrashkernelValue('4G'), 2 * GiB)).toThrow(
      /crashkernel="4G": size 4GiB \(0x100000000\) is not below the installed RAM 2GiB \(0x80000000\)/,
    );
    expect(() => crashkernelSize(parseCrashkernelValue('1G-:2G'), 2 * GiB)).toThrow(/not below the installed RAM/);
    expect(() => crashkernelSize(parseCrashkernelValue('2G,high'), 2 * GiB)).toThrow(ConfigError);
  });

  it('rejects specs built in code that the parser would not produce', () => {
    expect(() => crashkernelSize({ form: 'size', size: 0 }, GiB)).toThrow(/size above 0/);
    expect(() => crashkernelSize({ form: 'size', size: 1.5 }, GiB)).toThrow(ConfigError);
    expect(() =>
      crashkernelSize(
        {
          form: 'ranges',
          ranges: [
            { start: GiB, size: MiB },
            { start: 2 * GiB, size: MiB },
          ],
        },
        GiB,
      ),
    ).toThrow(ConfigError);
    expect(() => crashkernelSize({ form: 'nope' } as unknown as CrashkernelSpec, GiB)).toThrow(/unknown form/);
    expect(() => crashkernelSize({ form: 'size', size: MiB }, 0)).toThrow(/installed RAM/);
  });
});

describe('placeCrashkernel on a typical x86_64 map', () => {
  const eight = machine(8 * GiB); // [0,0x9f000) [0x100000,0x80000000) [0x100000000,0x280000000)

  it('puts a plain size top-down below 4 GiB, 16 MiB aligned', () => {
    expect(place('crashkernel=256M', eight)).toEqual({
      ranges: [{ start: 0x70000000, end: 0x80000000 }],
      size: 256 * MiB,
      low: { start: 0x70000000, end: 0x80000000 },
    });
    expect(place('crashkernel=2G-64G:256M,64G-:512M', eight)?.ranges).toEqual([{ start: 0x70000000, end: 0x80000000 }]);
    expect(place('crashkernel=1000M', eight)?.ranges).toEqual([{ start: 0x41000000, end: 0x41000000 + 1000 * MiB }]);
  });

  it('gives the distribution default the kernel addresses at several RAM sizes', () => {
    const value = 'crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M';
    expect(place(value, machine(512 * MiB))).toBeUndefined();
    expect(place(value, machine(GiB))?.ranges).toEqual([{ start: 0x34000000, end: 0x40000000 }]);
    expect(place(value, machine(2 * GiB))?.ranges).toEqual([{ start: 0x74000000, end: 0x80000000 }]);
    expect(place(value, machine(16 * GiB))?.ranges).toEqual([{ start: 0x70000000, end: 0x80000000 }]);
    expect(place(value, machine(128 * GiB))?.ranges).toEqual([{ start: 0x60000000, end: 0x80000000 }]);
  });

  it('falls back above 4 GiB when low memory has no room, with a default low part', () => {
    expect(place('crashkernel=3G', eight)).toEqual({
      ranges: [
        { start: 0x1c0000000, end: 0x280000000 },
        { start: 0x70000000, end: 0x80000000 },
      ],
      size: 3 * GiB,
      high: { start: 0x1c0000000, end: 0x280000000 },
      low: { start: 0x70000000, end: 0x80000000 },
    });
  });

  it(',high goes to the top of memory with a 256 MiB low part by default', () => {
    expect(place('crashkernel=512M,high', eight)).toEqual({
      ranges: [
        { start: 0x260000000, end: 0x280000000 },
        { start: 0x70000000, end: 0x80000000 },
      ],
      size: 512 * MiB,
      high: { start: 0x260000000, end: 0x280000000 },
      low: { start: 0x70000000, end: 0x80000000 },
    });
    expect(place('crashkernel=512M,high crashkernel=128M,low', eight)?.low).toEqual({
      start: 0x78000000,
      end: 0x80000000,
    });
    expect(place('crashkernel=512M,high crashkernel=0,low', eight)).toEqual({
      ranges: [{ start: 0x260000000, end: 0x280000000 }],
      size: 512 * MiB,
      high: { start: 0x260000000, end: 0x280000000 },
    });
  });

  it(',high falls back below 4 GiB without a low part when there is no high memory', () => {
    expect(place('crashkernel=512M,high', machine(2 * GiB))).toEqual({
      ranges: [{ start: 0x60000000, end: 0x80000000 }],
      size: 512 * MiB,
      low: { start: 0x60000000, end: 0x80000000 },
    });
  });

  it('stays below 64 TiB', () => {
    const ram = [
      { start: 0x100000, end: 0x80000000 },
      { start: 64 * TiB - GiB, end: 64 * TiB + GiB },
    ];
    expect(placeCrashkernel({ form: 'high', size: 512 * MiB, low: 0 }, ram, 3 * GiB)?.ranges).toEqual([
      { start: 64 * TiB - 512 * MiB, end: 64 * TiB },
    ]);
  });

  it('@offset reserves exactly there', () => {
    expect(place('crashkernel=256M@16M', eight)).toEqual({
      ranges: [{ start: 0x1000000, end: 0x11000000 }],
      size: 256 * MiB,
      low: { start: 0x1000000, end: 0x11000000 },
    });
    expect(place('crashkernel=512M-2G:64M,2G-:128M@16M', eight)?.ranges).toEqual([{ start: 0x1000000, end: 0x9000000 }]);
    // above 4 GiB: no low part
    expect(place('crashkernel=256M@5G', eight)).toEqual({
      ranges: [{ start: 0x140000000, end: 0x150000000 }],
      size: 256 * MiB,
      high: { start: 0x140000000, end: 0x150000000 },
    });
    // @0 lets the kernel choose
    expect(place('crashkernel=256M@0', eight)?.ranges).toEqual([{ start: 0x70000000, end: 0x80000000 }]);
  });

  it('rejects an @offset that is unaligned or not inside System RAM', () => {
    expect(() => place('crashkernel=256M@24M', eight)).toThrow(
      /crashkernel="256M@24M": cannot reserve 256MiB \(0x10000000\) at 0x1800000: expected an offset aligned to 16MiB \(System RAM: /,
    );
    expect(() => place('crashkernel=256M@0x78000000', eight)).toThrow(/\[0x78000000, 0x88000000\) is not inside one System RAM range/);
    expect(() => place('crashkernel=256M@3G', eight)).toThrow(/not inside one System RAM range/);
  });

  it('reports when there is no room, with the size and the RAM', () => {
    const two = machine(2 * GiB);
    const e = configError(() => placeCrashkernel(parseCrashkernelValue('2040M'), two.ram, two.ramBytes, 'grub.cfg'));
    expect(e.message).toBe(
      'crashkernel="2040M": cannot reserve 2040MiB (0x7f800000) aligned to 16MiB: no System RAM range below 64TiB ' +
        'has room for it (System RAM: ~2047.6MiB (0x7ff9f000) in 2 ranges: [0x0, 0x9f000), [0x100000, 0x80000000))',
    );
    expect(e.file).toBe('grub.cfg');
    expect(e.field).toBe('crashkernel');
  });

  it('reports when the low part has no room', () => {
    expect(() => place('crashkernel=1G,high crashkernel=3G,low', eight)).toThrow(
      /cannot reserve its low part of 3GiB \(0xc0000000\) below 4GiB/,
    );
  });
});

describe('errors name the value, the offset and what was expected', () => {
  it.each([
    ['512M-2G64M', 7, "expected ':' after a range, found '6'"],
    ['', 0, 'expected a memory value'],
    ['abc', 0, 'expected a memory value'],
    ['256X', 3, "expected '-', '@', ',high', ',low' or end of value after a size, found 'X'"],
    ['256M@', 5, "after '@', found end of value"],
    ['256M@16Mx', 8, 'expected end of value after the offset'],
    ['256M,hi', 5, "expected 'high', 'low' or 'cma' after ','"],
    ['256M,highx', 9, "expected end of value after ',high'"],
    ['2G-1G:64M', 3, 'expected a range end above its start 2GiB, found 1GiB'],
    ['1G-2G:64M,1G-3G:128M', 10, 'expected ranges in increasing order without overlap'],
    ['1G-4G:64M,2G-:128M', 10, 'expected ranges in increasing order without overlap'],
    ['1G-:64M,2G-:128M', 8, 'expected no range after an open-ended range'],
    ['1G-2G:64M;', 9, "expected ',', '@' or end of value after a range's size, found ';'"],
    ['1G-2G:64M,', 10, 'expected a memory value'],
    ['1G-2G', 5, "expected ':' after a range, found end of value"],
    ['1G-:', 4, 'expected a memory value'],
    ['1G-2G:64M@', 10, "after '@'"],
    ['0', 0, 'expected a size above 0'],
    ['0@16M', 0, 'expected a size above 0'],
    ['0,high', 0, 'expected a size above 0'],
    ['256M 128M', 4, 'found a space'],
    ['"256M"', 0, "found '\"'"],
  ])('%j fails at offset %d', (value, offset, text) => {
    const e = configError(() => parseCrashkernelValue(value, 'cmdline'));
    expect(e.message.startsWith(`crashkernel=${JSON.stringify(value)}: at offset ${offset}: `)).toBe(true);
    expect(e.message).toContain(text);
    expect(e.field).toBe('crashkernel');
    expect(e.file).toBe('cmdline');
  });

  it('rejects inputs longer than 4096 characters without echoing them', () => {
    const long = `${'1'.repeat(4097)}`;
    const e = configError(() => parseCrashkernelValue(long));
    expect(e.message).toMatch(/expected at most 4096 characters, found 4097/);
    expect(e.message.length).toBeLessThan(300);
    expect(() => parseCrashkernel(`ro ${'x'.repeat(4096)}`)).toThrow(/at most 4096 characters/);
    expect(parseCrashkernelValue(`256M@${'0'.repeat(4091)}`)).toEqual({ form: 'size', size: 256 * MiB, offset: 0 });
  });

  it('names the parameter inside a command line and its file', () => {
    const e = configError(() => parseCrashkernel('BOOT_IMAGE=/vmlinuz crashkernel=256M@ quiet', '/proc/cmdline'));
    expect(e.message).toBe(
      `crashkernel="256M@": at offset 5: expected a memory value (a number, 0x hex or 0 octal, with an optional K, M, G, T, P or E) after '@', found end of value`,
    );
    expect(e.file).toBe('/proc/cmdline');
    expect(e.field).toBe('crashkernel');
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

const VALID_VALUES = [
  '256M',
  '256M@16M',
  '0x10000000@0x1000000',
  '512M-2G:64M,2G-:128M',
  '512M-2G:64M,2G-:128M@16M',
  '2G-64G:256M,64G-:512M',
  '1G-4G:192M,4G-64G:256M,64G-:512M',
  '0M-1G:96M,1G-4G:192M,4G-64G:256M,64G-:512M',
  '2G-4G:384M,4G-16G:512M,16G-64G:1G,64G-128G:2G,128G-:4G',
  '512M,high',
  '128M,low',
  '0,low',
  '256M,cma',
];
const ALPHABET = [...'0123456789xXabcdefKMGTPEkmgtpe-:,@ highlowcma'];

const mutated = fc
  .tuple(
    fc.constantFrom(...VALID_VALUES),
    fc.array(
      fc.record({
        op: fc.constantFrom('insert', 'delete', 'replace'),
        at: fc.nat(),
        ch: fc.constantFrom(...ALPHABET),
      }),
      { minLength: 1, maxLength: 4 },
    ),
  )
  .map(([value, edits]) => {
    let s = value;
    for (const { op, at, ch } of edits) {
      const i = s.length === 0 ? 0 : at % (s.length + (op === 'insert' ? 1 : 0));
      if (op === 'insert') s = s.slice(0, i) + ch + s.slice(i);
      else if (op === 'delete') s = s.slice(0, i) + s.slice(i + 1);
      else s = s.slice(0, i) + ch + s.slice(i + 1);
    }
    return s;
  });

const anyValue = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: fc.constantFrom(...ALPHABET), maxLength: 40 }),
  mutated,
);

/** Runs everything on `value`; only ConfigError may come out. */
function exercise(value: string, ramBytes: number): void {
  const m = machine(ramBytes);
  const attempts: (() => unknown)[] = [
    () => {
      const spec = parseCrashkernelValue(value);
      crashkernelSize(spec, m.ramBytes);
      placeCrashkernel(spec, m.ram, m.ramBytes);
    },
    () => {
      const spec = parseCrashkernel(`ro crashkernel=${value} quiet`);
      if (spec) placeCrashkernel(spec, m.ram, m.ramBytes, 'cmdline');
    },
  ];
  for (const attempt of attempts) {
    try {
      attempt();
    } catch (e) {
      expect(e instanceof ConfigError).toBe(true);
    }
  }
}

describe('properties', () => {
  it('(1) random and mutated values never throw anything but ConfigError', () => {
    fc.assert(
      fc.property(anyValue, fc.integer({ min: 1, max: 64 }), (value, gib) => {
        exercise(value, gib * 256 * MiB);
      }),
      { numRuns: 3000 },
    );
  });

  const pages = (max: number) => fc.integer({ min: 0, max }).map((n) => n * 4096);
  const ramMap = fc
    .array(
      fc.tuple(
        pages(1 << 20),
        fc.integer({ min: 1, max: 1 << 21 }).map((n) => n * 4096),
      ),
      {
        minLength: 1,
        maxLength: 5,
      },
    )
    .map((parts) => {
      const ram: PhysRange[] = [];
      let cursor = 0;
      for (const [gap, length] of parts) {
        const start = cursor + gap;
        ram.push({ start, end: start + length });
        cursor = start + length + 4096;
      }
      return ram;
    });
  const bytes = fc.oneof(
    fc.integer({ min: 1, max: 1024 }).map((n) => n * MiB),
    fc.integer({ min: 1, max: 2 ** 33 }),
  );
  const spec: fc.Arbitrary<CrashkernelSpec> = fc.oneof(
    fc.record({ form: fc.constant('size' as const), size: bytes }),
    fc.record({
      form: fc.constant('size' as const),
      size: bytes,
      offset: fc.oneof(
        fc.integer({ min: 0, max: 1024 }).map((n) => n * ALIGN),
        fc.integer({ min: 0, max: 2 ** 34 }),
      ),
    }),
    fc.record({ form: fc.constant('high' as const), size: bytes }),
    fc.record({ form: fc.constant('high' as const), size: bytes, low: fc.oneof(fc.constant(0), bytes) }),
    fc
      .tuple(fc.integer({ min: 0, max: 16 }), fc.array(fc.tuple(fc.integer({ min: 1, max: 16 }), bytes), { maxLength: 4 }))
      .map(([first, steps]): CrashkernelSpec => {
        let start = first * 512 * MiB;
        const ranges = steps.map(([length, size], i) => {
          const end = start + length * 512 * MiB;
          const r = i === steps.length - 1 ? { start, size } : { start, end, size };
          start = end;
          return r;
        });
        return { form: 'ranges', ranges };
      }),
  );

  it('(2) a placed region is inside System RAM, 16 MiB aligned and of the requested size', () => {
    let placed = 0;
    fc.assert(
      fc.property(spec, ramMap, (s, ram) => {
        const ramBytes = totalSize(ram);
        let p: CrashkernelPlacement | undefined;
        try {
          p = placeCrashkernel(s, ram, ramBytes);
        } catch (e) {
          expect(e instanceof ConfigError).toBe(true);
          return;
        }
        if (!p) {
          expect(crashkernelSize(s, ramBytes)).toBe(0);
          return;
        }
        placed++;
        const [region, lowPart, ...rest] = p.ranges;
        expect(rest).toHaveLength(0);
        expect(p.size).toBe(crashkernelSize(s, ramBytes));
        expect(region.end - region.start).toBe(p.size);
        for (const r of p.ranges) {
          expect(r.start % ALIGN).toBe(0);
          expect(r.start).toBeGreaterThan(0);
          expect(ram.some((x) => x.start <= r.start && r.end <= x.end)).toBe(true);
        }
        const offset = s.form === 'size' || s.form === 'ranges' ? s.offset : undefined;
        if (offset) expect(region.start).toBe(offset);
        if (region.start >= FOUR_GIB) {
          expect(p.high).toEqual(region);
          if (lowPart) {
            expect(offset).toBeFalsy();
            expect(lowPart.end).toBeLessThanOrEqual(FOUR_GIB);
            expect(region.start >= lowPart.end || lowPart.start >= region.end).toBe(true);
            const wanted = s.form === 'high' ? (s.low ?? DEFAULT_LOW) : DEFAULT_LOW;
            expect(lowPart.end - lowPart.start).toBe(wanted);
            expect(p.low).toEqual(lowPart);
          } else {
            expect(p.low).toBeUndefined();
          }
        } else {
          expect(lowPart).toBeUndefined();
          expect(p.high).toBeUndefined();
          expect(p.low).toEqual(region);
          expect(region.end).toBeLessThanOrEqual(offset ? Number.MAX_SAFE_INTEGER : FOUR_GIB);
        }
      }),
      { numRuns: 2000 },
    );
    expect(placed).toBeGreaterThan(100);
  });

  it('(3) the 0M-1G:96M,... default places for every RAM size from 256 MiB to 16 GiB', () => {
    const value = parseCrashkernelValue('0M-1G:96M,1G-4G:192M,4G-64G:256M,64G-:512M');
    for (let ram = 256 * MiB; ram <= 16 * GiB; ram += 256 * MiB) {
      const m = machine(ram);
      const expected = ram < GiB ? 96 * MiB : ram < 4 * GiB ? 192 * MiB : 256 * MiB;
      const p = placeCrashkernel(value, m.ram, m.ramBytes);
      expect(p).toBeDefined();
      expect(p!.size).toBe(expected);
      const start = Math.floor((Math.min(ram, 2 * GiB) - expected) / ALIGN) * ALIGN;
      expect(p!.ranges).toEqual([{ start, end: start + expected }]);
    }
  });
});
