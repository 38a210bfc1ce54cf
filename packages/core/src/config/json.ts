import { ConfigError } from '../errors';
import { MAX_JSON_BYTES, readRegularFile } from '../io';
import { parseSize } from '../units';

/**
 * The JSON reading every configuration document shares: the file (bounded, regular files only),
 * the text (syntax errors name the file and the offset) and `Reader`, whose checks throw a
 * ConfigError naming the file and the dotted field.
 */

export type Obj = Record<string, unknown>;

export class Reader {
  constructor(readonly file: string) {}

  fail(field: string, expected: string, found: unknown): never {
    const shown = found === undefined ? 'nothing' : JSON.stringify(found);
    throw new ConfigError(`expected ${expected}, found ${shown && shown.length > 60 ? shown.slice(0, 57) + '...' : shown}`, {
      file: this.file,
      field,
    });
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

  rate(o: Obj, key: string, field: string, fallback: number): number {
    const v = o[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) this.fail(field, 'a probability from 0 to 1', v);
    return v as number;
  }

  boolean(o: Obj, key: string, field: string, fallback: boolean): boolean {
    const v = o[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean') this.fail(field, 'true or false', v);
    return v as boolean;
  }

  oneOf<T extends string>(v: unknown, field: string, values: readonly T[]): T {
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v))
      this.fail(field, `one of ${values.map((x) => JSON.stringify(x)).join(', ')}`, v);
    return v as T;
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
    if (!Number.isSafeInteger(bytes) || bytes < min || bytes > max || bytes % 4096)
      this.fail(field, `a page-multiple size from ${min} to ${max} bytes`, v);
    return bytes;
  }
}

/** Names of documents, plug-ins and devices: kebab-case, at most 64 characters. */
export const NAME = /^[a-z0-9][a-z0-9-]{0,63}$/;

/**
 * Reads and parses a JSON document: a regular file only (a FIFO or a device is refused before any
 * read), at most `maxBytes` (64 MiB unless the caller knows a tighter bound); a syntax error names
 * the file and the offset.
 */
export function readJsonFile(file: string, maxBytes = MAX_JSON_BYTES): unknown {
  return parseJsonText(readRegularFile(file, maxBytes).toString('utf8'), file);
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

/**
 * One component as a design (or a firmware profile) writes it: a plug-in name, or
 * `{"name": "...", "options": {...}}`. The options are kept raw: only the plug-in's schema says
 * what they may be.
 */
export function readComponent(r: Reader, v: unknown, field: string): { name: string; options?: Readonly<Record<string, unknown>> } {
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    const o = v as Obj;
    r.only(o, field, ['name', 'options']);
    if (typeof o.name !== 'string' || !NAME.test(o.name)) r.fail(`${field}.name`, 'a kebab-case plug-in name', o.name);
    if (o.options === undefined) return { name: o.name as string };
    const options = r.object(o.options, `${field}.options`);
    return { name: o.name as string, options: { ...options } };
  }
  if (typeof v !== 'string' || !NAME.test(v)) r.fail(field, 'a kebab-case plug-in name, or {"name": ..., "options": {...}}', v);
  return { name: v as string };
}
