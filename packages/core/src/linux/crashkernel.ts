import { ConfigError, type ErrorPlace } from '../errors';
import { GiB, MiB, PAGE_SIZE, TiB, alignDown, alignUp, formatSize, hex } from '../units';
import { mergeRanges, subtractRanges, totalSize, type PhysRange } from '../memory/ranges';

/**
 * `crashkernel=` as Linux parses it (kernel/crash_reserve.c `parse_crashkernel*`, lib/cmdline.c
 * `memparse`) and as x86_64 places it (kernel/crash_reserve.c `reserve_crashkernel_generic`,
 * arch/x86/include/asm/crash_reserve.h). Documentation/admin-guide/kdump/kdump.rst lists the forms.
 *
 * Where the kernel is lax this module is strict: every `crashkernel=` value must be well formed
 * (the kernel ignores all but the last one and silently skips trailing text), and the ranges of
 * the ranges form must be increasing and must not overlap (the kernel takes the first match).
 */
export type CrashkernelSpec =
  /** `size[KMG][@offset[KMG]]`; `@0` means "kernel picks", as in the kernel. */
  | { form: 'size'; size: number; offset?: number }
  /** `start-[end]:size[,...][@offset]`; `end` exclusive, absent for an open-ended range. */
  | { form: 'ranges'; ranges: { start: number; end?: number; size: number }[]; offset?: number }
  /** `size,high`, with `low` from `crashkernel=Y,low` (absent = the default; 0 = no low part). */
  | { form: 'high'; size: number; low?: number }
  /** Only `crashkernel=Y,low`: the kernel reserves nothing for it alone. */
  | { form: 'low-only'; low: number };

/** What x86_64 reserved: `ranges[0]` is always the crash kernel region (crashk_res). */
export interface CrashkernelPlacement {
  /** Every reserved range: the crash kernel region first, then its low part if one was reserved. */
  ranges: PhysRange[];
  /** Size of the crash kernel region (what `crashkernelSize` chose), without the low part. */
  size: number;
  /** The reserved range below 4 GiB: the low part (crashk_low_res), or the region itself when it is there. */
  low?: PhysRange;
  /** The crash kernel region when it starts at or above 4 GiB. */
  high?: PhysRange;
}

// x86_64: arch/x86/kernel/setup.c in Linux 6.1 ("16M alignment for crash kernel regions"), arch/x86/include/asm/crash_reserve.h since 6.9
const CRASH_ALIGN = 16 * MiB;
const CRASH_ADDR_LOW_MAX = 4 * GiB;
const CRASH_ADDR_HIGH_MAX = 64 * TiB;
/** crash_low_size_default(): max(swiotlb + 8 MiB, 256 MiB), with the default 64 MiB swiotlb. */
const SWIOTLB_BYTES = 64 * MiB;
const DEFAULT_CRASH_KERNEL_LOW_SIZE = Math.max(SWIOTLB_BYTES + 8 * MiB, 256 * MiB);
/** parse_crashkernel_mem rounds installed RAM up to 128 MiB before matching ranges. */
const RANGE_MATCH_ROUNDING = 128 * MiB;

const PARAM = 'crashkernel=';
const MAX_TEXT_CHARS = 4096;
const MAX_SHOWN_CHARS = 80;
const MAX_SHOWN_RANGES = 6;
const MEMORY_VALUE = 'a memory value (a number, 0x hex or 0 octal, with an optional K, M, G, T, P or E)';

/** memparse suffixes: each shifts the number left by this many bits. */
const SUFFIX_SHIFT: ReadonlyMap<string, number> = new Map([
  ['K', 10],
  ['k', 10],
  ['M', 20],
  ['m', 20],
  ['G', 30],
  ['g', 30],
  ['T', 40],
  ['t', 40],
  ['P', 50],
  ['p', 50],
  ['E', 60],
  ['e', 60],
]);

type ParsedValue = CrashkernelSpec | { form: 'cma'; size: number };

const place = (file: string | undefined): ErrorPlace => (file === undefined ? { field: 'crashkernel' } : { field: 'crashkernel', file });

function shown(text: string): string {
  return JSON.stringify(text.length > MAX_SHOWN_CHARS ? `${text.slice(0, MAX_SHOWN_CHARS - 3)}...` : text);
}

const paramText = (value: string): string => `crashkernel=${shown(value)}`;

function describeChar(text: string, at: number): string {
  if (at >= text.length) return 'end of value';
  const code = text.codePointAt(at) ?? 0;
  if (code === 0x20) return 'a space';
  if (code > 0x20 && code < 0x7f) return `'${text[at]}'`;
  return `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** Reads one `crashkernel=` value left to right; every failure names the offset inside it. */
class ValueCursor {
  pos = 0;

  constructor(
    readonly text: string,
    private readonly file: string | undefined,
  ) {}

  peek(): string | undefined {
    return this.pos < this.text.length ? this.text[this.pos] : undefined;
  }

  fail(expected: string, at = this.pos, found = describeChar(this.text, at)): never {
    throw new ConfigError(`${paramText(this.text)}: at offset ${at}: expected ${expected}, found ${found}`, place(this.file));
  }

  expectEnd(after: string): void {
    if (this.pos < this.text.length) this.fail(`end of value after ${after}`);
  }
}

function digitValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/**
 * lib/cmdline.c `memparse`: simple_strtoull in base 0 (0x… hex, a leading 0 octal, else
 * decimal), then one optional K/M/G/T/P/E suffix. Values above 2^53 are rejected where the
 * kernel would wrap around.
 */
function readMemValue(c: ValueCursor, expected: string): number {
  const text = c.text;
  const at = c.pos;
  let i = at;
  let base = 10;
  if (text[i] === '0') {
    if ((text[i + 1] === 'x' || text[i + 1] === 'X') && digitValue(text.charCodeAt(i + 2)) >= 0) {
      base = 16;
      i += 2;
    } else {
      base = 8;
    }
  }
  const digitsAt = i;
  let value = 0;
  while (i < text.length) {
    const digit = digitValue(text.charCodeAt(i));
    if (digit < 0 || digit >= base) break;
    value = value * base + digit;
    if (value > Number.MAX_SAFE_INTEGER) c.fail('a memory value below 2^53 bytes', at, 'a larger number');
    i++;
  }
  if (i === digitsAt) c.fail(expected, at);
  if (base === 8 && (text[i] === '8' || text[i] === '9')) {
    c.fail('an octal digit (a leading 0 makes the number octal, as in memparse)', i);
  }
  const shift = SUFFIX_SHIFT.get(text[i] ?? '');
  if (shift !== undefined) {
    value *= 2 ** shift;
    if (value > Number.MAX_SAFE_INTEGER) c.fail('a memory value below 2^53 bytes', at, 'a larger number');
    i++;
  }
  c.pos = i;
  return value;
}

/** `start-[end]:size[,...][@offset]`, entered with the cursor on the first '-'. */
function readRanges(c: ValueCursor, firstStart: number): CrashkernelSpec {
  const ranges: { start: number; end?: number; size: number }[] = [];
  let start = firstStart;
  for (;;) {
    if (c.peek() !== '-') c.fail("'-' after a range start");
    c.pos++;
    let end: number | undefined;
    if (c.peek() !== ':') {
      const endAt = c.pos;
      end = readMemValue(c, `${MEMORY_VALUE} or ':' after '-'`);
      if (end <= start) c.fail(`a range end above its start ${exactSize(start)}`, endAt, exactSize(end));
    }
    if (c.peek() !== ':') c.fail("':' after a range");
    c.pos++;
    const size = readMemValue(c, `${MEMORY_VALUE} (the size) after ':'`);
    ranges.push(end === undefined ? { start, size } : { start, end, size });

    const next = c.peek();
    if (next === ',') {
      c.pos++;
      const startAt = c.pos;
      start = readMemValue(c, `${MEMORY_VALUE} (a range start) after ','`);
      const previousEnd = ranges[ranges.length - 1].end;
      if (previousEnd === undefined) {
        c.fail('no range after an open-ended range', startAt, `a range starting at ${exactSize(start)}`);
      }
      if (start < previousEnd) {
        c.fail(`ranges in increasing order without overlap (a start at or above ${exactSize(previousEnd)})`, startAt, exactSize(start));
      }
      continue;
    }
    if (next === '@') {
      c.pos++;
      const offset = readMemValue(c, `${MEMORY_VALUE} after '@'`);
      c.expectEnd('the offset');
      return { form: 'ranges', ranges, offset };
    }
    if (next !== undefined) c.fail("',', '@' or end of value after a range's size");
    return { form: 'ranges', ranges };
  }
}

/** `size,high`, `size,low` or `size,cma`, entered with the cursor on the ','. */
function readSuffixed(c: ValueCursor, size: number): ParsedValue {
  c.pos++;
  const rest = c.text.slice(c.pos, c.pos + 4);
  const suffix = ['high', 'low', 'cma'].find((s) => rest.startsWith(s));
  if (suffix === undefined) c.fail("'high', 'low' or 'cma' after ','");
  c.pos += suffix.length;
  c.expectEnd(`',${suffix}'`);
  if (suffix === 'low') return { form: 'low-only', low: size };
  if (suffix === 'cma') return { form: 'cma', size };
  if (size === 0) c.fail('a size above 0 (a 0 size reserves nothing)', 0, '0');
  return { form: 'high', size };
}

function readValue(value: string, file: string | undefined): ParsedValue {
  if (typeof value !== 'string') {
    throw new ConfigError(`crashkernel: expected a string value, found ${typeof value}`, place(file));
  }
  if (value.length > MAX_TEXT_CHARS) {
    throw new ConfigError(`${paramText(value)}: expected at most ${MAX_TEXT_CHARS} characters, found ${value.length}`, place(file));
  }
  const c: ValueCursor = new ValueCursor(value, file);
  const size = readMemValue(c, MEMORY_VALUE);
  const next = c.peek();
  if (next === '-') return readRanges(c, size);
  if (next === ',') return readSuffixed(c, size);
  if (next !== '@' && next !== undefined) c.fail("'-', '@', ',high', ',low' or end of value after a size");
  if (size === 0) c.fail('a size above 0 (a 0 size reserves nothing)', 0, '0');
  if (next === undefined) return { form: 'size', size };
  c.pos++;
  const offset = readMemValue(c, `${MEMORY_VALUE} after '@'`);
  c.expectEnd('the offset');
  return { form: 'size', size, offset };
}

/**
 * Parses one `crashkernel=` value, e.g. `"512M-2G:64M,2G-:128M@16M"`, `"256M,high"`.
 * Throws ConfigError naming the offset where parsing failed. `,cma` values are rejected here
 * (the CMA reservation is not modelled); `parseCrashkernel` skips them.
 */
export function parseCrashkernelValue(value: string, file?: string): CrashkernelSpec {
  const parsed = readValue(value, file);
  if (parsed.form === 'cma') {
    throw new ConfigError(`${paramText(value)}: ',cma' reservations are not modelled; expected ',high' or ',low'`, place(file));
  }
  return parsed;
}

/**
 * Reads every `crashkernel=` parameter of a kernel command line the way kernel/crash_reserve.c
 * combines them: the last plain one (size or ranges form) wins and then `,high`/`,low` are
 * ignored; otherwise the last `,high` with the last `,low`. Only whole parameters count (the
 * kernel's strstr would also match inside `foo.crashkernel=`). Undefined when there is none.
 */
export function parseCrashkernel(cmdline: string, file?: string): CrashkernelSpec | undefined {
  if (typeof cmdline !== 'string') {
    throw new ConfigError(`crashkernel: expected a command line string, found ${typeof cmdline}`, place(file));
  }
  if (cmdline.length > MAX_TEXT_CHARS) {
    throw new ConfigError(
      `crashkernel: expected a command line of at most ${MAX_TEXT_CHARS} characters, found ${cmdline.length}`,
      place(file),
    );
  }
  let plain: CrashkernelSpec | undefined;
  let high: { form: 'high'; size: number } | undefined;
  let low: number | undefined;
  for (const match of cmdline.matchAll(/\S+/g)) {
    const token = match[0];
    if (!token.startsWith(PARAM)) continue;
    const parsed = readValue(token.slice(PARAM.length), file);
    if (parsed.form === 'size' || parsed.form === 'ranges') plain = parsed;
    else if (parsed.form === 'high') high = { form: 'high', size: parsed.size };
    else if (parsed.form === 'low-only') low = parsed.low;
  }
  if (plain) return plain;
  if (high) return low === undefined ? high : { ...high, low };
  if (low !== undefined) return { form: 'low-only', low };
  return undefined;
}

/** A memory value the way one would write it on the command line ("256M", "0"). */
function memText(bytes: number): string {
  const units: [number, string][] = [
    [60, 'E'],
    [50, 'P'],
    [40, 'T'],
    [30, 'G'],
    [20, 'M'],
    [10, 'K'],
  ];
  for (const [shift, suffix] of units) {
    const unit = 2 ** shift;
    if (bytes > 0 && bytes % unit === 0) return `${bytes / unit}${suffix}`;
  }
  return `${bytes}`;
}

/** The parameter text of a spec, for messages about a spec that did not come from text. */
function specText(spec: CrashkernelSpec): string {
  const at = (offset: number | undefined): string => (offset === undefined ? '' : `@${memText(offset)}`);
  switch (spec.form) {
    case 'size':
      return paramText(`${memText(spec.size)}${at(spec.offset)}`);
    case 'ranges': {
      const shownRanges = spec.ranges
        .slice(0, 16)
        .map((r) => `${memText(r.start)}-${r.end === undefined ? '' : memText(r.end)}:${memText(r.size)}`);
      return paramText(`${shownRanges.join(',')}${spec.ranges.length > 16 ? ',...' : ''}${at(spec.offset)}`);
    }
    case 'high':
      return `${paramText(`${memText(spec.size)},high`)}${spec.low === undefined ? '' : ` ${paramText(`${memText(spec.low)},low`)}`}`;
    case 'low-only':
      return paramText(`${memText(spec.low)},low`);
  }
}

/** An exact size for messages: "2040MiB", not formatSize's rounded "2.0GiB". */
function exactSize(bytes: number): string {
  const units: [number, string][] = [
    [TiB, 'TiB'],
    [GiB, 'GiB'],
    [MiB, 'MiB'],
    [1024, 'KiB'],
  ];
  for (const [unit, name] of units) {
    if (bytes >= unit && bytes % unit === 0) return `${bytes / unit}${name}`;
  }
  return `${bytes} bytes`;
}

/** "2040MiB (0x7f800000)"; "~2047.6MiB (0x7ff9f000)" when not a whole number of MiB. */
function sizeText(bytes: number): string {
  const shown = bytes >= MiB && bytes % MiB !== 0 ? `~${(bytes / MiB).toFixed(1)}MiB` : exactSize(bytes);
  return `${shown} (${hex(bytes)})`;
}

function isByteCount(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/** Specs built in code, not parsed, get the same checks the parser makes. */
function checkSpec(spec: CrashkernelSpec, file: string | undefined): void {
  const bad: (what: string) => never = (what) => {
    throw new ConfigError(`crashkernel: invalid spec: ${what}`, place(file));
  };
  if (typeof spec !== 'object' || spec === null) bad('expected an object');
  const byteCount = (x: unknown, what: string): void => {
    if (!isByteCount(x)) bad(`expected ${what} to be a whole number of bytes below 2^53, found ${String(x)}`);
  };
  switch (spec.form) {
    case 'size':
    case 'high':
      byteCount(spec.size, 'size');
      if (spec.form === 'size' && spec.offset !== undefined) byteCount(spec.offset, 'offset');
      if (spec.form === 'high' && spec.low !== undefined) byteCount(spec.low, 'low');
      if (spec.size === 0) bad(`${specText(spec)}: expected a size above 0 (a 0 size reserves nothing)`);
      return;
    case 'low-only':
      byteCount(spec.low, 'low');
      return;
    case 'ranges': {
      if (!Array.isArray(spec.ranges)) bad('expected ranges to be an array');
      if (spec.offset !== undefined) byteCount(spec.offset, 'offset');
      let previousEnd: number | undefined = 0;
      for (const [i, r] of spec.ranges.entries()) {
        byteCount(r?.start, `ranges[${i}].start`);
        byteCount(r.size, `ranges[${i}].size`);
        if (r.end !== undefined) byteCount(r.end, `ranges[${i}].end`);
        if (r.end !== undefined && r.end <= r.start) bad(`expected ranges[${i}].end above its start`);
        if (previousEnd === undefined || r.start < previousEnd) {
          bad(`expected ranges[${i}] to start at or after the previous range's end`);
        }
        previousEnd = r.end;
      }
      return;
    }
    default:
      bad(`unknown form ${JSON.stringify((spec as { form?: unknown }).form)}`);
  }
}

function checkRamBytes(ramBytes: number, file: string | undefined): void {
  if (!isByteCount(ramBytes) || ramBytes === 0) {
    throw new ConfigError(`crashkernel: expected installed RAM as a positive number of bytes, found ${String(ramBytes)}`, place(file));
  }
}

function selectSize(spec: CrashkernelSpec, ramBytes: number): number {
  switch (spec.form) {
    case 'size':
    case 'high':
      return spec.size;
    case 'low-only':
      return 0;
    case 'ranges': {
      const total = alignUp(ramBytes, RANGE_MATCH_ROUNDING);
      const match = spec.ranges.find((r) => total >= r.start && (r.end === undefined || total < r.end));
      return match ? match.size : 0;
    }
  }
}

/**
 * The crash kernel size `spec` asks for on a machine with `ramBytes` of RAM (the ranges form
 * matches RAM rounded up to 128 MiB, as parse_crashkernel_mem does). 0 when nothing is reserved
 * (no range matches, or only `,low` was given). A size not below RAM is a ConfigError.
 */
export function crashkernelSize(spec: CrashkernelSpec, ramBytes: number, file?: string): number {
  checkSpec(spec, file);
  checkRamBytes(ramBytes, file);
  const size = selectSize(spec, ramBytes);
  if (size > 0 && size >= ramBytes) {
    throw new ConfigError(`${specText(spec)}: size ${sizeText(size)} is not below the installed RAM ${sizeText(ramBytes)}`, place(file));
  }
  return size;
}

function checkSystemRam(systemRam: readonly PhysRange[], file: string | undefined): PhysRange[] {
  if (!Array.isArray(systemRam)) {
    throw new ConfigError('crashkernel: expected System RAM as an array of ranges', place(file));
  }
  for (const [i, r] of systemRam.entries()) {
    if (!isByteCount(r?.start) || !isByteCount(r.end) || r.end < r.start) {
      throw new ConfigError(
        `crashkernel: expected System RAM range ${i} as {start, end} byte addresses below 2^53 with start <= end`,
        place(file),
      );
    }
  }
  return mergeRanges(systemRam);
}

function describeRam(ram: readonly PhysRange[]): string {
  if (ram.length === 0) return 'System RAM: none';
  const listed = ram.slice(0, MAX_SHOWN_RANGES).map((r) => `[${hex(r.start)}, ${hex(r.end)})`);
  const more = ram.length > MAX_SHOWN_RANGES ? ` and ${ram.length - MAX_SHOWN_RANGES} more` : '';
  return `System RAM: ${sizeText(totalSize(ram))} in ${ram.length} range${ram.length === 1 ? '' : 's'}: ${listed.join(', ')}${more}`;
}

/**
 * mm/memblock.c `__memblock_find_range_top_down` over free RAM clamped to [searchStart, searchEnd)
 * (the first page is never handed out): the highest CRASH_ALIGN-aligned start that fits.
 */
function findTopDown(ram: readonly PhysRange[], size: number, searchStart: number, searchEnd: number): number | undefined {
  const start = Math.max(searchStart, PAGE_SIZE);
  const end = Math.max(start, searchEnd);
  for (let i = ram.length - 1; i >= 0; i--) {
    const thisStart = Math.min(Math.max(ram[i].start, start), end);
    const thisEnd = Math.min(Math.max(ram[i].end, start), end);
    if (thisEnd < size) continue;
    const candidate = alignDown(thisEnd - size, CRASH_ALIGN);
    if (candidate >= thisStart) return candidate;
  }
  return undefined;
}

/**
 * Where x86_64 reserves the crash kernel for `spec` (reserve_crashkernel_generic), over the
 * System RAM ranges, top-down with 16 MiB alignment:
 * - `size`/`ranges`: below 4 GiB first; failing that, above 4 GiB plus a default low part
 *   (256 MiB) below 4 GiB.
 * - `,high`: above 4 GiB (up to 64 TiB) first, with a low part (`,low`, default 256 MiB, 0 for
 *   none); failing that, below 4 GiB without a low part.
 * - `@offset` (non-zero): exactly there; it must be 16 MiB aligned and inside one RAM range.
 * `reserved` are the ranges memblock already holds at reserve_crashkernel() time (see
 * memblockReservedAtCrashkernel): the search runs over System RAM less them.
 * Undefined when the spec reserves nothing for this RAM size; ConfigError when it cannot be placed.
 */
export function placeCrashkernel(
  spec: CrashkernelSpec,
  systemRam: readonly PhysRange[],
  ramBytes: number,
  file?: string,
  reserved: readonly PhysRange[] = [],
): CrashkernelPlacement | undefined {
  const size = crashkernelSize(spec, ramBytes, file);
  if (size === 0) return undefined;
  const installed = checkSystemRam(systemRam, file);
  // memblock's free memory: what is not reserved yet when reserve_crashkernel() runs.
  const ram = reserved.length ? subtractRanges(installed, mergeRanges(reserved)) : installed;
  const fail: (why: string) => never = (why) => {
    throw new ConfigError(`${specText(spec)}: ${why} (${describeRam(ram)})`, place(file));
  };

  const offset = spec.form === 'size' || spec.form === 'ranges' ? spec.offset : undefined;
  if (offset !== undefined && offset !== 0) {
    if (offset % CRASH_ALIGN !== 0) {
      fail(`cannot reserve ${sizeText(size)} at ${hex(offset)}: expected an offset aligned to ${formatSize(CRASH_ALIGN)}`);
    }
    const region = { start: offset, end: offset + size };
    if (
      Number.isSafeInteger(region.end) &&
      installed.some((r) => r.start <= region.start && region.end <= r.end) &&
      !ram.some((r) => r.start <= region.start && region.end <= r.end)
    ) {
      fail(
        `cannot reserve ${sizeText(size)} at ${hex(offset)}: memory is in use (an earlier reservation: firmware, kernel image or initrd)`,
      );
    }
    if (!Number.isSafeInteger(region.end) || !ram.some((r) => r.start <= region.start && region.end <= r.end)) {
      fail(`cannot reserve ${sizeText(size)} at ${hex(offset)}: [${hex(offset)}, ${hex(region.end)}) is not inside one System RAM range`);
    }
    return placement(region, undefined, size);
  }

  let base: number | undefined;
  let lowSize = 0;
  if (spec.form === 'high') {
    base = findTopDown(ram, size, CRASH_ADDR_LOW_MAX, CRASH_ADDR_HIGH_MAX);
    lowSize = spec.low ?? DEFAULT_CRASH_KERNEL_LOW_SIZE;
    base ??= findTopDown(ram, size, 0, CRASH_ADDR_LOW_MAX);
  } else {
    base = findTopDown(ram, size, 0, CRASH_ADDR_LOW_MAX);
    if (base === undefined) {
      base = findTopDown(ram, size, CRASH_ADDR_LOW_MAX, CRASH_ADDR_HIGH_MAX);
      lowSize = DEFAULT_CRASH_KERNEL_LOW_SIZE;
    }
  }
  if (base === undefined) {
    fail(
      `cannot reserve ${sizeText(size)} aligned to ${formatSize(CRASH_ALIGN)}: no System RAM range below ` +
        `${formatSize(CRASH_ADDR_HIGH_MAX)} has room for it`,
    );
  }
  const region = { start: base, end: base + size };
  if (base < CRASH_ADDR_LOW_MAX || lowSize === 0) return placement(region, undefined, size);

  const lowBase = findTopDown(ram, lowSize, 0, CRASH_ADDR_LOW_MAX);
  if (lowBase === undefined) {
    fail(
      `reserved ${sizeText(size)} at ${hex(base)} but cannot reserve its low part of ${sizeText(lowSize)} ` +
        `below ${formatSize(CRASH_ADDR_LOW_MAX)}, so the kernel reserves nothing`,
    );
  }
  return placement(region, { start: lowBase, end: lowBase + lowSize }, size);
}

function placement(region: PhysRange, lowPart: PhysRange | undefined, size: number): CrashkernelPlacement {
  if (region.start >= CRASH_ADDR_LOW_MAX) {
    return lowPart ? { ranges: [region, lowPart], size, high: region, low: lowPart } : { ranges: [region], size, high: region };
  }
  return { ranges: [region], size, low: region };
}
