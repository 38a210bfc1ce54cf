import 'reflect-metadata';
import { container } from 'tsyringe';
import { FadeRetention, FADE_OPTIONS, PlainFirmware, SqueezeWriter, SQUEEZE_OPTIONS } from './__fixtures__/optioned-plugins';
import { checkOptionsSchema, resolveOptions, type OptionsSchema } from './config/component-options';
import { parseDesign } from './config/design';
import { FIRMWARE, RETENTION, SLOT_KEYS, WRITER, type RetentionPolicy } from './contracts';
import { ConfigError } from './errors';
import { bindSlot, catalogOf, checkComponents, COMPONENT_OPTIONS, registerPlugin, resolveComponent } from './plugins';
import { componentRefsOf } from './config/design';

const FILE = 'designs/mine.json';

function configError(f: () => unknown): ConfigError {
  try {
    f();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

function root() {
  const c = container.createChildContainer();
  registerPlugin(c, 'firmware', 'plain', PlainFirmware, 'test firmware');
  registerPlugin(c, 'writer', 'squeeze', SqueezeWriter, 'test writer with options', { options: SQUEEZE_OPTIONS });
  registerPlugin(c, 'retention', 'fade', FadeRetention, 'test retention with options', { options: FADE_OPTIONS });
  // The other slots' names only need to be known (nothing here resolves them).
  for (const [slot, name] of [
    ['kernel', 'linux'],
    ['transport', 'none'],
    ['exit', 'halt'],
    ['detector', 'none'],
    ['stub', 'stub'],
    ['capture', 'capture'],
  ] as const) {
    registerPlugin(c, slot, name, PlainFirmware, 'a name for the catalog');
  }
  return c;
}

function design(writer: unknown, retention: unknown = ['fade'], kernel = 'linux') {
  return parseDesign(
    {
      format: 'efikdump-design/1',
      name: 'mine',
      description: 'component options',
      components: {
        firmware: 'plain',
        retention,
        kernel,
        transport: 'none',
        exit: 'halt',
        detector: 'none',
        stub: 'stub',
        capture: 'capture',
        writer,
      },
      kernel: { cmdline: 'ro' },
    },
    FILE,
  );
}

/** A run container with the slots the fixtures fill bound as the design says. */
function runOf(d: ReturnType<typeof design>) {
  const base = root();
  const run = base.createChildContainer();
  for (const slot of ['firmware', 'retention', 'writer'] as const) bindSlot(run, catalogOf(base), slot, componentRefsOf(d, slot), d.source);
  return run;
}

describe('resolveOptions', () => {
  const schema: OptionsSchema = {
    level: { type: 'integer', min: 1, max: 22, default: 3 },
    rate: { type: 'number', min: 0, max: 1 },
    mode: { type: 'enum', values: ['fast', 'small'], default: 'fast' },
    tag: { type: 'string', pattern: /^[a-z]+$/ },
    note: { type: 'string', minLength: 0, maxLength: 4 },
    on: { type: 'boolean', default: true },
  };
  const place = { file: FILE, field: 'components.writer.options' };
  it('fills the defaults, keeps what is given, leaves out what has no default', () => {
    expect(resolveOptions(schema, undefined, place, 'w')).toEqual({ level: 3, mode: 'fast', on: true });
    expect(resolveOptions(schema, { level: 22, rate: 0.25, mode: 'small', tag: 'abc', note: '', on: false }, place, 'w')).toEqual({
      level: 22,
      rate: 0.25,
      mode: 'small',
      tag: 'abc',
      note: '',
      on: false,
    });
  });
  it.each<[string, Record<string, unknown>, string, string]>([
    ['a string for an integer', { level: 'x' }, 'level', 'expected an integer from 1 to 22, found "x"'],
    ['an integer out of range', { level: 23 }, 'level', 'expected an integer from 1 to 22, found 23'],
    ['a fraction for an integer', { level: 2.5 }, 'level', 'expected an integer from 1 to 22, found 2.5'],
    ['a number out of range', { rate: 1.5 }, 'rate', 'expected a number from 0 to 1, found 1.5'],
    ['a value not in the enum', { mode: 'tiny' }, 'mode', 'expected one of "fast", "small", found "tiny"'],
    ['a string not matching its pattern', { tag: 'A1' }, 'tag', 'expected a string matching /^[a-z]+$/, found "A1"'],
    ['a string too long', { note: 'abcde' }, 'note', 'expected a string of 0 to 4 characters, found "abcde"'],
    ['a number for a boolean', { on: 1 }, 'on', 'expected true or false, found 1'],
    [
      'an option the schema does not have',
      { levle: 3 },
      'levle',
      'expected one of the options of "w": level, rate, mode, tag, note, on, found "levle"',
    ],
  ])('refuses %s, naming the file and the option', (_n, raw, option, message) => {
    const e = configError(() => resolveOptions(schema, raw, place, 'w'));
    expect(e.describe()).toBe(`${FILE}:components.writer.options.${option}: ${message}`);
  });
  it('refuses options for a plug-in that takes none, and options that are not an object', () => {
    expect(configError(() => resolveOptions(undefined, { x: 1 }, place, 'w')).describe()).toBe(
      `${FILE}:components.writer.options.x: expected no options ("w" takes none), found "x"`,
    );
    expect(configError(() => resolveOptions(schema, [1], place, 'w')).describe()).toBe(
      `${FILE}:components.writer.options: expected an object of options, found [1]`,
    );
    expect(resolveOptions(undefined, {}, place, 'w')).toEqual({});
  });
});

describe('a schema is checked when the plug-in registers', () => {
  it.each<[string, OptionsSchema, RegExp]>([
    [
      'a default outside the range',
      { level: { type: 'integer', min: 1, max: 9, default: 10 } },
      /its default 10 is not an integer from 1 to 9/,
    ],
    ['min above max', { level: { type: 'number', min: 2, max: 1 } }, /expected finite min <= max/],
    ['an empty enum', { mode: { type: 'enum', values: [] } }, /non-empty list of values/],
    ['a kebab-case option name', { 'dump-level': { type: 'boolean' } }, /camelCase/],
  ])('refuses %s', (_n, schema, message) => {
    expect(() => checkOptionsSchema(schema, 'writer "w"')).toThrow(message);
    expect(() => registerPlugin(container.createChildContainer(), 'writer', 'w', SqueezeWriter, 'w', { options: schema })).toThrow(
      ConfigError,
    );
  });
});

describe('a plug-in resolved from a design receives its options by constructor injection', () => {
  it("gives each component its own options, defaults filled in, and the run's other slots as before", () => {
    const d = design({ name: 'squeeze', options: { level: 19, label: 'nightly' } }, [{ name: 'fade', options: { fraction: 0.5 } }, 'fade']);
    const run = runOf(d);
    const writer = run.resolve(WRITER) as SqueezeWriter;
    expect(writer).toBeInstanceOf(SqueezeWriter);
    expect(writer.options).toEqual({ level: 19, codec: 'zstd', label: 'nightly' });
    // The writer's own container holds its options; the firmware it injects is the run's.
    expect(writer.firmware).toBe(run.resolve(FIRMWARE));
    expect(run.resolve(WRITER)).toBe(writer);
    // Two components of one multiple slot, each with its own options.
    const policies = run.resolveAll(RETENTION) as FadeRetention[];
    expect(policies.map((p) => p.options)).toEqual([
      { fraction: 0.5, cold: false },
      { fraction: 0, cold: false },
    ]);
    expect(run.resolveAll(RETENTION)).toEqual(policies);
    expect(run.resolveAll(RETENTION)[0]).toBe(policies[0]);
    // Outside a component nothing holds options.
    expect(() => run.resolve(COMPONENT_OPTIONS)).toThrow();
  });

  it('refuses a bad option as a ConfigError naming the design file and the field, at load and at bind', () => {
    const d = design({ name: 'squeeze', options: { level: 'x' } });
    const base = root();
    const atLoad = configError(() => checkComponents(catalogOf(base), d));
    expect(atLoad.describe()).toBe(`${FILE}:components.writer.options.level: expected an integer from 1 to 22, found "x"`);
    expect(atLoad.exitCode).toBe(2);
    const atBind = configError(() =>
      bindSlot(base.createChildContainer(), catalogOf(base), 'writer', componentRefsOf(d, 'writer'), d.source),
    );
    expect([atBind.file, atBind.field]).toEqual([FILE, 'components.writer.options.level']);
    const inList = configError(() =>
      checkComponents(catalogOf(base), design('squeeze', ['fade', { name: 'fade', options: { cold: 'yes' } }])),
    );
    expect([inList.file, inList.field]).toEqual([FILE, 'components.retention[1].options.cold']);
  });

  it('checks names too (every slot a design fills), before options', () => {
    const base = root();
    expect(() => checkComponents(catalogOf(base), design('squeeze'))).not.toThrow();
    const e = configError(() => checkComponents(catalogOf(base), design({ name: 'squeeze', options: { level: 'x' } }, ['fade'], 'bsd')));
    expect(SLOT_KEYS.indexOf('kernel')).toBeLessThan(SLOT_KEYS.indexOf('writer'));
    expect(e.describe()).toBe(`${FILE}:components.kernel: Unknown kernel: bsd (known: linux)`);
  });

  it('resolves a component outside its slot (a policy a firmware profile lists) with its options, a new instance each time', () => {
    const run = runOf(design('squeeze'));
    const a = resolveComponent<RetentionPolicy>(run, 'retention', { name: 'fade', options: { fraction: 1 } });
    expect((a as FadeRetention).options).toEqual({ fraction: 1, cold: false });
    expect(resolveComponent(run, 'retention', 'fade')).not.toBe(a);
    const e = configError(() =>
      resolveComponent(run, 'retention', {
        name: 'fade',
        options: { fraction: 2 },
        file: 'profiles/x.json',
        field: 'platformRetention[0]',
      }),
    );
    expect(e.describe()).toBe('profiles/x.json:platformRetention[0].options.fraction: expected a number from 0 to 1, found 2');
  });
});
