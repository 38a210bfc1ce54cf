import { ConfigError } from '../errors';

/**
 * Options of a component (a plug-in a design names): the plug-in declares what it takes when it
 * registers (`registerPlugin(..., { options: schema })`), a design writes
 * `{"name": "...", "options": {...}}`, and the values are checked here — every error names the
 * design file and the field, e.g. `components.writer.options.dumpLevel`. A deliberately small
 * vocabulary: integers and numbers with a range, strings, enums and booleans, each with an
 * optional default. No nesting: an option a plug-in needs to structure is several options.
 */

interface OptionBase {
  /** One line for `efikdump designs` and error messages. */
  readonly description?: string;
}
export interface IntegerOption extends OptionBase {
  readonly type: 'integer';
  readonly min: number;
  readonly max: number;
  readonly default?: number;
}
export interface NumberOption extends OptionBase {
  readonly type: 'number';
  readonly min: number;
  readonly max: number;
  readonly default?: number;
}
export interface StringOption extends OptionBase {
  readonly type: 'string';
  /** At least this many characters (default 1: no empty string). */
  readonly minLength?: number;
  /** At most this many characters (default 4096). */
  readonly maxLength?: number;
  /** The whole string must match (anchor it yourself). */
  readonly pattern?: RegExp;
  /** What the pattern asks for, in words, for error messages (default: the pattern itself). */
  readonly expected?: string;
  readonly default?: string;
}
export interface EnumOption<V extends string = string> extends OptionBase {
  readonly type: 'enum';
  readonly values: readonly V[];
  readonly default?: V;
}
export interface BooleanOption extends OptionBase {
  readonly type: 'boolean';
  readonly default?: boolean;
}
export type OptionSpec = IntegerOption | NumberOption | StringOption | EnumOption | BooleanOption;

/** What a plug-in takes: option name (camelCase) → its spec. */
export type OptionsSchema = Readonly<Record<string, OptionSpec>>;

/** The options a component receives: validated, defaults filled in. */
export type ComponentOptions = Readonly<Record<string, unknown>>;

type ValueOf<S> = S extends { type: 'integer' | 'number' }
  ? number
  : S extends { type: 'boolean' }
    ? boolean
    : S extends { type: 'enum'; values: readonly (infer V)[] }
      ? V
      : string;

/**
 * The TypeScript type of the options a schema describes: an option with a default is always
 * there, one without may be absent.
 */
export type OptionsOf<S extends OptionsSchema> = {
  readonly [K in keyof S as S[K] extends { default: unknown } ? K : never]: ValueOf<S[K]>;
} & { readonly [K in keyof S as S[K] extends { default: unknown } ? never : K]?: ValueOf<S[K]> };

/** Declares a schema keeping its literal types (so `OptionsOf<typeof schema>` knows enum values and defaults). */
export function defineOptions<const S extends OptionsSchema>(schema: S): S {
  return schema;
}

const OPTION_NAME = /^[a-z][A-Za-z0-9]{0,63}$/;
const shown = (v: unknown): string => {
  const s = v === undefined ? 'nothing' : (JSON.stringify(v) ?? String(v));
  return s.length > 60 ? s.slice(0, 57) + '...' : s;
};

/** What a value of `spec` must be, in words. */
export function describeOption(spec: OptionSpec): string {
  switch (spec.type) {
    case 'integer':
      return `an integer from ${spec.min} to ${spec.max}`;
    case 'number':
      return `a number from ${spec.min} to ${spec.max}`;
    case 'string':
      return (
        spec.expected ??
        (spec.pattern ? `a string matching ${spec.pattern}` : `a string of ${spec.minLength ?? 1} to ${spec.maxLength ?? 4096} characters`)
      );
    case 'enum':
      return `one of ${spec.values.map((x) => JSON.stringify(x)).join(', ')}`;
    case 'boolean':
      return 'true or false';
  }
}

function fits(spec: OptionSpec, v: unknown): boolean {
  switch (spec.type) {
    case 'integer':
      return Number.isSafeInteger(v) && (v as number) >= spec.min && (v as number) <= spec.max;
    case 'number':
      return typeof v === 'number' && Number.isFinite(v) && v >= spec.min && v <= spec.max;
    case 'string':
      return (
        typeof v === 'string' &&
        v.length >= (spec.minLength ?? 1) &&
        v.length <= (spec.maxLength ?? 4096) &&
        (!spec.pattern || spec.pattern.test(v))
      );
    case 'enum':
      return typeof v === 'string' && spec.values.includes(v);
    case 'boolean':
      return typeof v === 'boolean';
  }
}

/**
 * Checks a schema a plug-in declares: option names camelCase, ranges ordered, enums non-empty, and
 * every default a valid value. Called by `registerPlugin`, so a bad schema fails at registration.
 */
export function checkOptionsSchema(schema: OptionsSchema, owner: string): void {
  for (const [name, spec] of Object.entries(schema)) {
    const where = `${owner}: option ${JSON.stringify(name)}`;
    if (!OPTION_NAME.test(name)) throw new ConfigError(`${where}: option names are camelCase (letters and digits, starting lower-case)`);
    if (
      typeof spec !== 'object' ||
      spec === null ||
      !['integer', 'number', 'string', 'enum', 'boolean'].includes((spec as OptionSpec).type)
    ) {
      throw new ConfigError(`${where}: expected a spec with type integer, number, string, enum or boolean`);
    }
    if (
      (spec.type === 'integer' || spec.type === 'number') &&
      !(Number.isFinite(spec.min) && Number.isFinite(spec.max) && spec.min <= spec.max)
    ) {
      throw new ConfigError(`${where}: expected finite min <= max`);
    }
    if (spec.type === 'enum' && (!Array.isArray(spec.values) || spec.values.length === 0))
      throw new ConfigError(`${where}: expected a non-empty list of values`);
    if (spec.default !== undefined && !fits(spec, spec.default))
      throw new ConfigError(`${where}: its default ${shown(spec.default)} is not ${describeOption(spec)}`);
  }
}

/**
 * The options `raw` gives a component, checked against `schema` with the defaults filled in.
 * `field` is where the options object sits in `file` (`components.writer.options`); an error names
 * the option under it. A plug-in without a schema takes no options.
 */
export function resolveOptions(
  schema: OptionsSchema | undefined,
  raw: unknown,
  place: { file?: string; field: string },
  component: string,
): ComponentOptions {
  const fail = (field: string, expected: string, found: unknown): never => {
    throw new ConfigError(`expected ${expected}, found ${shown(found)}`, { file: place.file, field });
  };
  if (raw !== undefined && (typeof raw !== 'object' || raw === null || Array.isArray(raw))) fail(place.field, 'an object of options', raw);
  const given = (raw ?? {}) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(given)) {
    const label = /^[A-Za-z0-9_-]+$/.test(key) ? key : `[${JSON.stringify(key)}]`;
    const spec = schema && Object.prototype.hasOwnProperty.call(schema, key) ? schema[key] : undefined;
    if (!spec) {
      const known = schema ? Object.keys(schema) : [];
      fail(
        `${place.field}.${label}`,
        known.length ? `one of the options of "${component}": ${known.join(', ')}` : `no options ("${component}" takes none)`,
        key,
      );
    }
    const v = given[key];
    if (!fits(spec!, v)) fail(`${place.field}.${label}`, describeOption(spec!), v);
    out[key] = v;
  }
  for (const [key, spec] of Object.entries(schema ?? {})) {
    if (out[key] === undefined && spec.default !== undefined) out[key] = spec.default;
  }
  return Object.freeze(out);
}
