import {
  ConfigError,
  PAGE_SIZE,
  formatSize,
  hex,
  parseSize,
  readJsonFile,
  subtractRanges,
  totalSize,
  writeFileAtomic,
  type PhysRange,
} from '@efikdump/core';
import { q35RamRanges } from './q35-layout';

/**
 * A retention profile: what real firmware overwrote in guest RAM across a reset, measured by
 * `efikdump probe retention` (see profiles/measured/README.md). Addresses are hex strings in
 * the file and numbers in memory; every range is page aligned and coalesced.
 */
export const RETENTION_PROFILE_FORMAT = 'efikdump-retention-profile/1';
export const RESET_KINDS = ['warm', 'cold'] as const;
export type ResetKind = (typeof RESET_KINDS)[number];

export interface ProfileRange {
  start: number;
  end: number;
  pages: number;
  zeroPages: number;
}

export interface RetentionRun {
  /** 1-based. */
  repeat: number;
  overwritten: ProfileRange[];
  pages: number;
  zeroPages: number;
  /** Pages that changed before the firmware ran a single instruction (QEMU's reset or start-up itself). */
  emulatorPages: number;
  post: { state: string; bdsMs: number; idleMs: number };
  durationMs: number;
}

export interface RetentionMeasurement {
  memoryBytes: number;
  reset: ResetKind;
  /** Whether every repeat overwrote exactly the same pages. */
  agree: boolean;
  /** Union over the repeats: a page overwritten in any repeat is lost. */
  overwritten: ProfileRange[];
  pages: number;
  /** Of `pages`, how many lie in System RAM (the OS's memory), when the profile has a memory map for this size. */
  systemRamPages?: number;
  runs: RetentionRun[];
}

/** The firmware's EFI memory map of one guest size, condensed: System RAM and everything else by type. */
export interface MeasuredMemoryMap {
  memoryBytes: number;
  source: string;
  systemRam: PhysRange[];
  /** The BootServicesCode/Data part of systemRam (Linux keeps it reserved until after reserve_crashkernel). */
  bootServices: PhysRange[];
  other: { type: string; start: number; end: number }[];
}

export interface PlacementVerdict {
  memoryBytes: number;
  reset: ResetKind;
  crashkernel: string;
  /** Which free memory the placement searched (see PLACEMENT_VARIANTS in placement-report.ts). */
  variant: string;
  systemRamSource: string;
  /** The reserved ranges (crash kernel region first); absent when crashkernel= reserves nothing. */
  reservation?: PhysRange[];
  /** The handoff record's page: the first page of the crash kernel region. */
  handoff?: PhysRange;
  /** The parts of the reservation the firmware overwrote. */
  reservationOverwritten: PhysRange[];
  reservationSurvives: boolean;
  handoffSurvives: boolean;
  note?: string;
}

export interface RetentionProfile {
  format: typeof RETENTION_PROFILE_FORMAT;
  createdAt: string;
  command?: string;
  firmware: {
    name: string;
    /** Started with --secure-boot (SMM-only flash writes, the Secure Boot files by default); whether Secure Boot is enforced is the VARS template's setting. */
    secureBoot: boolean;
    code: { path: string; sha256: string; bytes: number };
    vars: { path: string; sha256: string; bytes: number };
    packages: Record<string, string>;
  };
  qemu: { version: string; packages: Record<string, string>; machine: string; accel: string; args: string[] };
  pageSize: number;
  pattern: { seed: number; layout: string };
  method: Record<string, string>;
  memoryMaps: MeasuredMemoryMap[];
  measurements: RetentionMeasurement[];
  placement?: PlacementVerdict[];
}

// ---------------------------------------------------------------- ranges

/** True when both lists name exactly the same pages. */
export function sameRanges(a: readonly ProfileRange[], b: readonly ProfileRange[]): boolean {
  return a.length === b.length && a.every((r, i) => r.start === b[i].start && r.end === b[i].end);
}

/** The union of several runs' ranges, coalesced; zeroPages is the maximum seen for a range (exact when the runs agree). */
export function unionRanges(lists: readonly (readonly ProfileRange[])[]): ProfileRange[] {
  if (lists.length === 1) return lists[0].map((r) => ({ ...r }));
  const all = lists
    .flat()
    .slice()
    .sort((x, y) => x.start - y.start);
  const out: ProfileRange[] = [];
  for (const r of all) {
    const last = out[out.length - 1];
    if (last && r.start <= last.end) {
      if (r.end > last.end) last.end = r.end;
      last.zeroPages = Math.max(last.zeroPages, r.zeroPages);
    } else {
      out.push({ ...r });
    }
  }
  for (const r of out) {
    r.pages = (r.end - r.start) / PAGE_SIZE;
    r.zeroPages = Math.min(r.zeroPages, r.pages);
  }
  return out;
}

export function measurementOf(
  memoryBytes: number,
  reset: ResetKind,
  runs: RetentionRun[],
  systemRam?: readonly PhysRange[],
): RetentionMeasurement {
  const overwritten = unionRanges(runs.map((r) => r.overwritten));
  const pages = overwritten.reduce((s, r) => s + r.pages, 0);
  const agree = runs.every((r) => sameRanges(r.overwritten, runs[0].overwritten));
  const m: RetentionMeasurement = { memoryBytes, reset, agree, overwritten, pages, runs };
  if (systemRam) m.systemRamPages = (totalSize(overwritten) - totalSize(subtractRanges(overwritten, systemRam))) / PAGE_SIZE;
  return m;
}

const rangeText = (r: PhysRange): string => `[${hex(r.start)}, ${hex(r.end)}) ${(r.end - r.start) / PAGE_SIZE} pages`;

/**
 * What differs between a committed profile and a new measurement, for every (size, reset) the
 * new one measured: pages overwritten only in one of them. Empty when they agree. Firmware or
 * QEMU version changes are listed first when there are differences, as the likely cause.
 */
export function compareRetentionProfiles(expected: RetentionProfile, actual: RetentionProfile): string[] {
  const diffs: string[] = [];
  for (const m of actual.measurements) {
    const label = `${formatSize(m.memoryBytes)} ${m.reset}`;
    const e = expected.measurements.find((x) => x.memoryBytes === m.memoryBytes && x.reset === m.reset);
    if (!e) {
      diffs.push(`${label}: not in the committed profile`);
      continue;
    }
    if (sameRanges(e.overwritten, m.overwritten)) continue;
    const onlyExpected = subtractRanges(e.overwritten, m.overwritten);
    const onlyActual = subtractRanges(m.overwritten, e.overwritten);
    diffs.push(
      `${label}: committed ${e.pages} pages in ${e.overwritten.length} ranges, measured ${m.pages} pages in ${m.overwritten.length} ranges`,
      ...onlyExpected.map((r) => `  overwritten only in the committed profile: ${rangeText(r)}`),
      ...onlyActual.map((r) => `  overwritten only in this measurement:     ${rangeText(r)}`),
    );
  }
  if (diffs.length) {
    const versions: string[] = [];
    if (expected.firmware.code.sha256 !== actual.firmware.code.sha256) {
      versions.push(
        `firmware differs: committed ${expected.firmware.code.path} ${JSON.stringify(expected.firmware.packages)}, now ${actual.firmware.code.path} ${JSON.stringify(actual.firmware.packages)}`,
      );
    }
    if (expected.qemu.version !== actual.qemu.version)
      versions.push(`QEMU differs: committed "${expected.qemu.version}", now "${actual.qemu.version}"`);
    if (expected.qemu.accel !== actual.qemu.accel)
      versions.push(`accelerator differs: committed ${expected.qemu.accel}, now ${actual.qemu.accel}`);
    diffs.unshift(...versions);
  }
  return diffs;
}

// ---------------------------------------------------------------- writing

function rangeJson(r: ProfileRange): Record<string, unknown> {
  return { start: hex(r.start), end: hex(r.end), pages: r.pages, zeroPages: r.zeroPages };
}

const physJson = (r: PhysRange) => ({ start: hex(r.start), end: hex(r.end) });

/** The JSON document of a profile (addresses as hex strings, sizes as "256MiB"). */
export function retentionProfileJson(p: RetentionProfile): Record<string, unknown> {
  return {
    format: p.format,
    createdAt: p.createdAt,
    ...(p.command === undefined ? {} : { command: p.command }),
    firmware: p.firmware,
    qemu: p.qemu,
    pageSize: p.pageSize,
    pattern: p.pattern,
    method: p.method,
    memoryMaps: p.memoryMaps.map((m) => ({
      memory: formatSize(m.memoryBytes),
      source: m.source,
      systemRam: m.systemRam.map(physJson),
      bootServices: m.bootServices.map(physJson),
      other: m.other.map((o) => ({ type: o.type, start: hex(o.start), end: hex(o.end) })),
    })),
    measurements: p.measurements.map((m) => ({
      memory: formatSize(m.memoryBytes),
      reset: m.reset,
      agree: m.agree,
      pages: m.pages,
      ...(m.systemRamPages === undefined ? {} : { systemRamPages: m.systemRamPages }),
      overwritten: m.overwritten.map(rangeJson),
      runs: m.runs.map((r) => ({
        repeat: r.repeat,
        pages: r.pages,
        zeroPages: r.zeroPages,
        emulatorPages: r.emulatorPages,
        post: r.post,
        durationMs: r.durationMs,
        overwritten: r.overwritten.map(rangeJson),
      })),
    })),
    ...(p.placement === undefined
      ? {}
      : {
          placement: p.placement.map((v) => ({
            memory: formatSize(v.memoryBytes),
            reset: v.reset,
            crashkernel: v.crashkernel,
            variant: v.variant,
            systemRamSource: v.systemRamSource,
            ...(v.reservation ? { reservation: v.reservation.map(physJson) } : {}),
            ...(v.handoff ? { handoff: physJson(v.handoff) } : {}),
            reservationSurvives: v.reservationSurvives,
            handoffSurvives: v.handoffSurvives,
            reservationOverwritten: v.reservationOverwritten.map((x) => ({ ...physJson(x), pages: (x.end - x.start) / PAGE_SIZE })),
            ...(v.note === undefined ? {} : { note: v.note }),
          })),
        }),
  };
}

/**
 * JSON with two-space indentation, except that arrays of flat objects (ranges) and arrays of
 * scalars keep one element per line: a profile stays readable and diffs line by line.
 */
export function formatProfileJson(value: unknown, indent = ''): string {
  const next = indent + '  ';
  const isScalar = (v: unknown) => v === null || typeof v !== 'object';
  if (isScalar(value)) return JSON.stringify(value);
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    if (value.every(isScalar)) return `[${value.map((v) => JSON.stringify(v)).join(', ')}]`;
    const flat = value.every((v) => !isScalar(v) && !Array.isArray(v) && Object.values(v as object).every(isScalar));
    const items = value.map((v) => (flat ? JSON.stringify(v).replace(/,"/g, ', "').replace(/":/g, '": ') : formatProfileJson(v, next)));
    return `[\n${items.map((i) => next + i).join(',\n')}\n${indent}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  if (entries.length === 0) return '{}';
  return `{\n${entries.map(([k, v]) => `${next}${JSON.stringify(k)}: ${formatProfileJson(v, next)}`).join(',\n')}\n${indent}}`;
}

/** Writes the profile atomically (temporary name, renamed when complete). */
export function writeRetentionProfile(path: string, profile: RetentionProfile): void {
  writeFileAtomic(path, formatProfileJson(retentionProfileJson(profile)) + '\n');
}

// ---------------------------------------------------------------- reading

class Reader {
  constructor(readonly file: string) {}

  fail(field: string, expected: string, found: unknown): never {
    const shown =
      found === undefined
        ? 'nothing'
        : typeof found === 'string'
          ? JSON.stringify(found.length > 60 ? found.slice(0, 57) + '...' : found)
          : Array.isArray(found)
            ? 'an array'
            : found === null
              ? 'null'
              : typeof found === 'object'
                ? 'an object'
                : String(found);
    throw new ConfigError(`expected ${expected}, found ${shown}`, { file: this.file, field });
  }

  object(v: unknown, field: string): Record<string, unknown> {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(field, 'an object', v);
    return v as Record<string, unknown>;
  }

  array(v: unknown, field: string, min = 0): unknown[] {
    if (!Array.isArray(v) || v.length < min)
      this.fail(field, min ? `an array of at least ${min} element${min === 1 ? '' : 's'}` : 'an array', v);
    return v;
  }

  string(v: unknown, field: string): string {
    if (typeof v !== 'string' || v.length === 0) this.fail(field, 'a non-empty string', v);
    return v;
  }

  boolean(v: unknown, field: string): boolean {
    if (typeof v !== 'boolean') this.fail(field, 'true or false', v);
    return v;
  }

  count(v: unknown, field: string): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) this.fail(field, 'a whole number ≥ 0', v);
    return v;
  }

  address(v: unknown, field: string): number {
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
    if (typeof v === 'string' && /^0x[0-9a-f]+$/i.test(v)) {
      const n = Number(v);
      if (Number.isSafeInteger(n)) return n;
    }
    return this.fail(field, 'an address as a hex string such as "0x810000"', v);
  }

  memory(v: unknown, field: string): number {
    if (typeof v !== 'string') this.fail(field, 'a memory size such as "256MiB"', v);
    let bytes: number;
    try {
      bytes = parseSize(v, field);
    } catch {
      return this.fail(field, 'a memory size such as "256MiB"', v);
    }
    if (bytes <= 0 || bytes % PAGE_SIZE !== 0) this.fail(field, 'a positive whole number of pages', v);
    return bytes;
  }

  physRange(v: unknown, field: string, ram?: readonly PhysRange[]): PhysRange {
    const o = this.object(v, field);
    const start = this.address(o.start, `${field}.start`);
    const end = this.address(o.end, `${field}.end`);
    if (start % PAGE_SIZE !== 0) this.fail(`${field}.start`, 'a page-aligned address', o.start);
    if (end % PAGE_SIZE !== 0 || end <= start) this.fail(`${field}.end`, `a page-aligned address above start ${hex(start)}`, o.end);
    if (ram && !ram.some((x) => start >= x.start && end <= x.end)) {
      this.fail(
        field,
        `a range inside the guest's RAM (${ram.map((x) => `[${hex(x.start)}, ${hex(x.end)})`).join(', ')})`,
        `[${hex(start)}, ${hex(end)})`,
      );
    }
    return { start, end };
  }

  /** Ranges sorted, not touching (coalesced), with consistent page counts. */
  ranges(v: unknown, field: string, ram?: readonly PhysRange[]): ProfileRange[] {
    const out: ProfileRange[] = [];
    this.array(v, field).forEach((item, i) => {
      const f = `${field}[${i}]`;
      const { start, end } = this.physRange(item, f, ram);
      const o = item as Record<string, unknown>;
      const pages = this.count(o.pages, `${f}.pages`);
      if (pages !== (end - start) / PAGE_SIZE)
        this.fail(`${f}.pages`, `${(end - start) / PAGE_SIZE} (the pages from start to end)`, o.pages);
      const zeroPages = this.count(o.zeroPages, `${f}.zeroPages`);
      if (zeroPages > pages) this.fail(`${f}.zeroPages`, `at most ${pages} (the range's pages)`, o.zeroPages);
      const last = out[out.length - 1];
      if (last && start <= last.end)
        this.fail(`${f}.start`, `an address above the previous range's end ${hex(last.end)} (ranges sorted and coalesced)`, o.start);
      out.push({ start, end, pages, zeroPages });
    });
    return out;
  }
}

function readIdentity(r: Reader, v: unknown, field: string) {
  const o = r.object(v, field);
  const sha256 = r.string(o.sha256, `${field}.sha256`);
  if (!/^[0-9a-f]{64}$/.test(sha256)) r.fail(`${field}.sha256`, '64 lowercase hex digits', sha256);
  return { path: r.string(o.path, `${field}.path`), sha256, bytes: r.count(o.bytes, `${field}.bytes`) };
}

function readStringMap(r: Reader, v: unknown, field: string): Record<string, string> {
  const o = r.object(v, field);
  for (const [k, x] of Object.entries(o)) r.string(x, `${field}.${k}`);
  return o as Record<string, string>;
}

/** Checks a parsed profile document; every problem is a ConfigError naming the file and the field. */
export function parseRetentionProfile(doc: unknown, file: string): RetentionProfile {
  const r = new Reader(file);
  const o = r.object(doc, '(document)');
  if (o.format !== RETENTION_PROFILE_FORMAT) r.fail('format', `"${RETENTION_PROFILE_FORMAT}"`, o.format);
  const createdAt = r.string(o.createdAt, 'createdAt');
  const command = o.command === undefined ? undefined : r.string(o.command, 'command');
  const fw = r.object(o.firmware, 'firmware');
  const firmware = {
    name: r.string(fw.name, 'firmware.name'),
    secureBoot: r.boolean(fw.secureBoot, 'firmware.secureBoot'),
    code: readIdentity(r, fw.code, 'firmware.code'),
    vars: readIdentity(r, fw.vars, 'firmware.vars'),
    packages: readStringMap(r, fw.packages, 'firmware.packages'),
  };
  const q = r.object(o.qemu, 'qemu');
  const qemu = {
    version: r.string(q.version, 'qemu.version'),
    packages: readStringMap(r, q.packages, 'qemu.packages'),
    machine: r.string(q.machine, 'qemu.machine'),
    accel: r.string(q.accel, 'qemu.accel'),
    args: r.array(q.args, 'qemu.args').map((a, i) => r.string(a, `qemu.args[${i}]`)),
  };
  if (o.pageSize !== PAGE_SIZE) r.fail('pageSize', String(PAGE_SIZE), o.pageSize);
  const pat = r.object(o.pattern, 'pattern');
  const pattern = { seed: r.count(pat.seed, 'pattern.seed'), layout: r.string(pat.layout, 'pattern.layout') };
  const method = readStringMap(r, o.method, 'method');

  const memoryMaps: MeasuredMemoryMap[] = r.array(o.memoryMaps ?? [], 'memoryMaps').map((v, i) => {
    const f = `memoryMaps[${i}]`;
    const m = r.object(v, f);
    const memoryBytes = r.memory(m.memory, `${f}.memory`);
    return {
      memoryBytes,
      source: r.string(m.source, `${f}.source`),
      systemRam: r.array(m.systemRam, `${f}.systemRam`, 1).map((x, j) => r.physRange(x, `${f}.systemRam[${j}]`)),
      bootServices: r.array(m.bootServices, `${f}.bootServices`).map((x, j) => r.physRange(x, `${f}.bootServices[${j}]`)),
      other: r.array(m.other, `${f}.other`).map((x, j) => {
        const range = r.physRange(x, `${f}.other[${j}]`);
        return { type: r.string((x as Record<string, unknown>).type, `${f}.other[${j}].type`), ...range };
      }),
    };
  });

  const seen = new Set<string>();
  const measurements = r.array(o.measurements, 'measurements', 1).map((v, i) => {
    const f = `measurements[${i}]`;
    const m = r.object(v, f);
    const memoryBytes = r.memory(m.memory, `${f}.memory`);
    if (!RESET_KINDS.includes(m.reset as ResetKind)) r.fail(`${f}.reset`, `one of ${RESET_KINDS.join(', ')}`, m.reset);
    const reset = m.reset as ResetKind;
    const key = `${memoryBytes} ${reset}`;
    if (seen.has(key))
      r.fail(`${f}`, `one measurement per memory size and reset (${formatSize(memoryBytes)} ${reset} appears twice)`, m.memory);
    seen.add(key);
    const ram = q35RamRanges(memoryBytes);
    const runs: RetentionRun[] = r.array(m.runs, `${f}.runs`, 1).map((x, j) => {
      const g = `${f}.runs[${j}]`;
      const run = r.object(x, g);
      const overwritten = r.ranges(run.overwritten, `${g}.overwritten`, ram);
      const pages = r.count(run.pages, `${g}.pages`);
      const sum = overwritten.reduce((s, y) => s + y.pages, 0);
      if (pages !== sum) r.fail(`${g}.pages`, `${sum} (the sum of its ranges' pages)`, run.pages);
      const zeroPages = r.count(run.zeroPages, `${g}.zeroPages`);
      const zeroSum = overwritten.reduce((s, y) => s + y.zeroPages, 0);
      if (zeroPages !== zeroSum) r.fail(`${g}.zeroPages`, `${zeroSum} (the sum of its ranges' zeroPages)`, run.zeroPages);
      const post = r.object(run.post, `${g}.post`);
      return {
        repeat: r.count(run.repeat, `${g}.repeat`),
        overwritten,
        pages,
        zeroPages,
        emulatorPages: r.count(run.emulatorPages, `${g}.emulatorPages`),
        post: {
          state: r.string(post.state, `${g}.post.state`),
          bdsMs: r.count(post.bdsMs, `${g}.post.bdsMs`),
          idleMs: r.count(post.idleMs, `${g}.post.idleMs`),
        },
        durationMs: r.count(run.durationMs, `${g}.durationMs`),
      };
    });
    const overwritten = r.ranges(m.overwritten, `${f}.overwritten`, ram);
    const expected = measurementOf(memoryBytes, reset, runs, memoryMaps.find((x) => x.memoryBytes === memoryBytes)?.systemRam);
    if (!sameRanges(overwritten, expected.overwritten))
      r.fail(
        `${f}.overwritten`,
        `the union of its runs' ranges (${expected.overwritten.length} ranges)`,
        `${overwritten.length} ranges that differ`,
      );
    const agree = r.boolean(m.agree, `${f}.agree`);
    if (agree !== expected.agree) r.fail(`${f}.agree`, `${expected.agree} (whether its runs' ranges are identical)`, agree);
    const pages = r.count(m.pages, `${f}.pages`);
    if (pages !== expected.pages) r.fail(`${f}.pages`, `${expected.pages} (the pages of its overwritten ranges)`, m.pages);
    const out: RetentionMeasurement = { memoryBytes, reset, agree, overwritten, pages, runs };
    if (m.systemRamPages !== undefined) {
      out.systemRamPages = r.count(m.systemRamPages, `${f}.systemRamPages`);
      if (expected.systemRamPages !== undefined && out.systemRamPages !== expected.systemRamPages) {
        r.fail(
          `${f}.systemRamPages`,
          `${expected.systemRamPages} (its overwritten pages inside the memory map's System RAM)`,
          m.systemRamPages,
        );
      }
    }
    return out;
  });

  const placement =
    o.placement === undefined
      ? undefined
      : r.array(o.placement, 'placement').map((v, i) => {
          const f = `placement[${i}]`;
          const p = r.object(v, f);
          const memoryBytes = r.memory(p.memory, `${f}.memory`);
          if (!RESET_KINDS.includes(p.reset as ResetKind)) r.fail(`${f}.reset`, `one of ${RESET_KINDS.join(', ')}`, p.reset);
          const verdict: PlacementVerdict = {
            memoryBytes,
            reset: p.reset as ResetKind,
            crashkernel: r.string(p.crashkernel, `${f}.crashkernel`),
            variant: r.string(p.variant, `${f}.variant`),
            systemRamSource: r.string(p.systemRamSource, `${f}.systemRamSource`),
            reservationSurvives: r.boolean(p.reservationSurvives, `${f}.reservationSurvives`),
            handoffSurvives: r.boolean(p.handoffSurvives, `${f}.handoffSurvives`),
            reservationOverwritten: r
              .array(p.reservationOverwritten, `${f}.reservationOverwritten`)
              .map((x, j) => r.physRange(x, `${f}.reservationOverwritten[${j}]`)),
          };
          if (p.reservation !== undefined)
            verdict.reservation = r.array(p.reservation, `${f}.reservation`, 1).map((x, j) => r.physRange(x, `${f}.reservation[${j}]`));
          if (p.handoff !== undefined) verdict.handoff = r.physRange(p.handoff, `${f}.handoff`);
          if (p.note !== undefined) verdict.note = r.string(p.note, `${f}.note`);
          return verdict;
        });

  return {
    format: RETENTION_PROFILE_FORMAT,
    createdAt,
    ...(command === undefined ? {} : { command }),
    firmware,
    qemu,
    pageSize: PAGE_SIZE,
    pattern,
    method,
    memoryMaps,
    measurements,
    ...(placement === undefined ? {} : { placement }),
  };
}

/** Reads and checks a profile file. */
export function readRetentionProfile(file: string): RetentionProfile {
  return parseRetentionProfile(readJsonFile(file), file);
}
