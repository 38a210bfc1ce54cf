import { readFileSync } from 'node:fs';
import { ConfigError, IoError } from './errors';
import { SLOTS, SLOT_KEYS, type SlotKey } from './contracts';
import { PAGE_KINDS, type PageKindMix } from './memory/page-kinds';
import { parseSize } from './units';

/** A design: which implementation fills each slot, and the 1st kernel's settings. */
export interface Design {
  format: 'efikdump-design/1';
  name: string;
  description: string;
  components: Record<SlotKey, string[]>;
  kernel: { cmdline: string };
  /** Where the design came from (for error messages). */
  source: string;
}

/** A scenario: the machine, the workload and (later) the faults. */
export interface Scenario {
  format: 'efikdump-scenario/1';
  name: string;
  description: string;
  machine: { ramBytes: number; cpus: number; pageMix: PageKindMix };
  workload: { pageWrites: number };
  source: string;
}

type Obj = Record<string, unknown>;

class Reader {
  constructor(readonly file: string) {}

  fail(field: string, expected: string, found: unknown): never {
    const shown = found === undefined ? 'nothing' : JSON.stringify(found);
    throw new ConfigError(`expected ${expected}, found ${shown && shown.length > 60 ? shown.slice(0, 57) + '...' : shown}`, { file: this.file, field });
  }

  object(v: unknown, field: string): Obj {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(field, 'an object', v);
    return v as Obj;
  }

  only(o: Obj, field: string, allowed: readonly string[]): void {
    for (const k of Object.keys(o)) {
      const name = /^[A-Za-z0-9_-]+$/.test(k) ? k : `[${JSON.stringify(k)}]`;
      if (!allowed.includes(k)) this.fail(field ? `${field}.${name}` : name, `one of the fields ${allowed.join(', ')}`, k);
    }
  }

  string(o: Obj, key: string, field: string, fallback?: string): string {
    const v = o[key];
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'string' || v.length === 0 || v.length > 4096) this.fail(field, 'a non-empty string', v);
    return v as string;
  }

  integer(o: Obj, key: string, field: string, min: number, max: number, fallback: number): number {
    const v = o[key];
    if (v === undefined) return fallback;
    if (!Number.isSafeInteger(v) || (v as number) < min || (v as number) > max) this.fail(field, `an integer from ${min} to ${max}`, v);
    return v as number;
  }

  size(o: Obj, key: string, field: string, min: number, max: number, fallback: number): number {
    const v = o[key];
    if (v === undefined) return fallback;
    let bytes: number;
    try {
      bytes = typeof v === 'number' ? v : typeof v === 'string' ? parseSize(v, field) : NaN;
    } catch {
      return this.fail(field, 'a size such as "4GiB"', v);
    }
    if (!Number.isSafeInteger(bytes) || bytes < min || bytes > max || bytes % 4096) this.fail(field, `a page-multiple size from ${min} to ${max} bytes`, v);
    return bytes;
  }
}

const NAME = /^[a-z0-9][a-z0-9-]{0,63}$/;
export const MIN_RAM = 256 * 1024 * 1024;
export const MAX_RAM = 64 * 1024 ** 4;
export const MAX_CPUS = 1024;

export function parseDesign(doc: unknown, source: string): Design {
  const r = new Reader(source);
  const d = r.object(doc, '(document)');
  r.only(d, '', ['format', 'name', 'description', 'components', 'kernel']);
  if (d.format !== 'efikdump-design/1') r.fail('format', '"efikdump-design/1"', d.format);
  const name = r.string(d, 'name', 'name');
  if (!NAME.test(name)) r.fail('name', 'a kebab-case name', name);
  const description = r.string(d, 'description', 'description');
  const comps = r.object(d.components, 'components');
  r.only(comps, 'components', SLOT_KEYS);
  const components = {} as Record<SlotKey, string[]>;
  for (const slot of SLOT_KEYS) {
    const v = comps[slot];
    const field = `components.${slot}`;
    const names = Array.isArray(v) ? v : [v];
    if (v === undefined || names.length === 0) r.fail(field, `the name of a ${SLOTS[slot].description}`, v);
    if (!SLOTS[slot].multiple && names.length !== 1) r.fail(field, 'exactly one name', v);
    names.forEach((n, i) => {
      if (typeof n !== 'string' || !NAME.test(n)) r.fail(Array.isArray(v) ? `${field}[${i}]` : field, 'a kebab-case plug-in name', n);
    });
    components[slot] = names as string[];
  }
  const kernel = r.object(d.kernel, 'kernel');
  r.only(kernel, 'kernel', ['cmdline']);
  const cmdline = r.string(kernel, 'cmdline', 'kernel.cmdline');
  return { format: 'efikdump-design/1', name, description, components, kernel: { cmdline }, source };
}

export function parseScenario(doc: unknown, source: string): Scenario {
  const r = new Reader(source);
  const d = r.object(doc, '(document)');
  r.only(d, '', ['format', 'name', 'description', 'machine', 'workload']);
  if (d.format !== 'efikdump-scenario/1') r.fail('format', '"efikdump-scenario/1"', d.format);
  const name = r.string(d, 'name', 'name');
  if (!NAME.test(name)) r.fail('name', 'a kebab-case name', name);
  const description = r.string(d, 'description', 'description');
  const m = r.object(d.machine ?? {}, 'machine');
  r.only(m, 'machine', ['memory', 'cpus', 'pageMix']);
  const ramBytes = r.size(m, 'memory', 'machine.memory', MIN_RAM, MAX_RAM, 4 * 1024 ** 3);
  const cpus = r.integer(m, 'cpus', 'machine.cpus', 1, MAX_CPUS, 4);
  const mixObj = r.object(m.pageMix ?? {}, 'machine.pageMix');
  r.only(mixObj, 'machine.pageMix', PAGE_KINDS);
  const pageMix: PageKindMix = {};
  for (const k of PAGE_KINDS) {
    const v = mixObj[k];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) r.fail(`machine.pageMix.${k}`, 'a proportion from 0 to 1', v);
    pageMix[k] = v as number;
  }
  const w = r.object(d.workload ?? {}, 'workload');
  r.only(w, 'workload', ['pageWrites']);
  const pageWrites = r.integer(w, 'pageWrites', 'workload.pageWrites', 0, 1_000_000, 256);
  return { format: 'efikdump-scenario/1', name, description, machine: { ramBytes, cpus, pageMix }, workload: { pageWrites }, source };
}

/** Reads and parses a JSON document; a syntax error names the file and the offset. */
export function readJsonFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new IoError(`cannot read: ${(e as Error).message}`, { file });
  }
  return parseJsonText(text, file);
}

export function parseJsonText(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const m = / at position (\d+)( \(line \d+ column \d+\))?$/.exec((e as Error).message);
    const offset = m ? Number(m[1]) : /end of JSON input/.test((e as Error).message) ? text.length : undefined;
    throw new ConfigError(`expected valid JSON: ${(e as Error).message}`, { file, offset });
  }
}
