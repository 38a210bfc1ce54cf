import 'reflect-metadata'; // also a Jest setup file; imported here for the Reflect.getMetadata types
import { container, Lifecycle, type DependencyContainer } from 'tsyringe';
import { Car } from './__fixtures__/car';
import { Dashboard } from './__fixtures__/dashboard';
import { Engine } from './__fixtures__/engine';
import { KeepEverything, ResetExit, ReturnExit, ScrubEverything } from './__fixtures__/fake-plugins';
import { GAUGE, type Gauge } from './__fixtures__/gauge';
import { EXIT, RETENTION } from './contracts';
import { ConfigError } from './errors';
import { bindSlot, catalogOf, PluginCatalog, registerPlugin } from './plugins';

/** A fresh scope per test: nothing is registered in, or resolved from, the global container. */
function freshRoot(): DependencyContainer {
  return container.createChildContainer();
}

describe('constructor injection under legacy decorators + emitDecoratorMetadata (ts-jest, isolatedModules)', () => {
  it('emits the constructor parameter types as metadata', () => {
    // A value import of a class is recorded as the class itself. (For Dashboard, tsyringe's
    // @injectable replaces the @inject-ed position of the same array with its token descriptor.)
    expect(Reflect.getMetadata('design:paramtypes', Car)).toEqual([Engine]);
    const dashboardTypes = Reflect.getMetadata('design:paramtypes', Dashboard) as unknown[];
    expect(dashboardTypes).toHaveLength(2);
    expect(dashboardTypes[1]).toBe(Engine);
  });

  it('resolves a class whose constructor takes a class from another file, with no @inject', () => {
    const run = freshRoot().createChildContainer();
    const car = run.resolve(Car);
    expect(car).toBeInstanceOf(Car);
    expect(car.engine).toBeInstanceOf(Engine);
  });

  it('injects an interface-typed dependency through @inject(TOKEN)', () => {
    const run = freshRoot().createChildContainer();
    const gauge: Gauge = { unit: 'km/h', read: () => 88 };
    run.registerInstance(GAUGE, gauge);
    const dash = run.resolve(Dashboard);
    expect(dash.speed).toBe(gauge);
    expect(dash.speed.read()).toBe(88);
    expect(dash.engine).toBeInstanceOf(Engine);
  });

  it('fails to resolve the interface-typed dependency when its token is not bound', () => {
    const run = freshRoot().createChildContainer();
    expect(() => run.resolve(Dashboard)).toThrow();
  });

  it('builds a new transient dependency per resolution unless a scope says otherwise', () => {
    const run = freshRoot().createChildContainer();
    const a = run.resolve(Car);
    const b = run.resolve(Car);
    expect(a).not.toBe(b);
    expect(a.engine.serial).not.toBe(b.engine.serial);
  });
});

describe('PluginCatalog', () => {
  it('refuses names that are not kebab-case and names registered twice in a slot', () => {
    const catalog = new PluginCatalog();
    expect(() => catalog.add('exit', 'Return_Exit', ReturnExit, 'bad name')).toThrow(ConfigError);
    expect(() => catalog.add('exit', '-leading-dash', ReturnExit, 'bad name')).toThrow(ConfigError);
    catalog.add('exit', 'return-exit', ReturnExit, 'returns');
    expect(() => catalog.add('exit', 'return-exit', ResetExit, 'again')).toThrow(ConfigError);
    // The same name in another slot is a different plug-in.
    expect(() => catalog.add('retention', 'return-exit', KeepEverything, 'other slot')).not.toThrow();
  });

  it('lists entries per slot, sorted by slot then name', () => {
    const catalog = new PluginCatalog();
    catalog.add('retention', 'scrub-everything', ScrubEverything, 'scrubs');
    catalog.add('exit', 'reset-exit', ResetExit, 'resets');
    catalog.add('retention', 'keep-everything', KeepEverything, 'keeps');
    catalog.add('exit', 'return-exit', ReturnExit, 'returns');
    expect(catalog.list().map((e) => `${e.slot}/${e.name}`)).toEqual([
      'exit/reset-exit',
      'exit/return-exit',
      'retention/keep-everything',
      'retention/scrub-everything',
    ]);
    expect(catalog.list('retention').map((e) => e.name)).toEqual(['keep-everything', 'scrub-everything']);
    expect(catalog.get('exit', 'reset-exit')).toMatchObject({ slot: 'exit', name: 'reset-exit', implementation: ResetExit });
  });
});

describe('registerPlugin / bindSlot', () => {
  function rootWithExits(): DependencyContainer {
    const root = freshRoot();
    registerPlugin(root, 'exit', 'return-exit', ReturnExit, 'returns to the caller');
    registerPlugin(root, 'exit', 'reset-exit', ResetExit, 'resets the machine');
    registerPlugin(root, 'retention', 'keep-everything', KeepEverything, 'keeps memory');
    registerPlugin(root, 'retention', 'scrub-everything', ScrubEverything, 'scrubs memory');
    return root;
  }

  it('keeps one catalog per container, visible from its children', () => {
    const root = rootWithExits();
    const child = root.createChildContainer();
    expect(catalogOf(child)).toBe(catalogOf(root));
    expect(catalogOf(freshRoot())).not.toBe(catalogOf(root));
    expect(catalogOf(freshRoot()).list()).toEqual([]);
  });

  it('fails on an unknown name with "Unknown <slot>: <name> (known: ...)", naming the file and the field', () => {
    const root = rootWithExits();
    const run = root.createChildContainer();
    let caught: unknown;
    try {
      bindSlot(run, catalogOf(root), 'exit', ['warp-drive'], 'designs/test.json');
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const err = caught as ConfigError;
    expect(err.message).toBe('Unknown exit: warp-drive (known: reset-exit, return-exit)');
    expect(err.file).toBe('designs/test.json');
    expect(err.field).toBe('components.exit');
    expect(err.exitCode).toBe(2);
    expect(err.describe()).toBe('designs/test.json:components.exit: Unknown exit: warp-drive (known: reset-exit, return-exit)');
    expect(run.isRegistered(EXIT)).toBe(false);
  });

  it('says when nothing is registered for the slot', () => {
    const run = freshRoot().createChildContainer();
    expect(() => bindSlot(run, new PluginCatalog(), 'writer', ['elf'])).toThrow(
      new ConfigError('Unknown writer: elf (known: none registered)'),
    );
  });

  it('binds the named class, with its own constructor dependencies injected', () => {
    const root = rootWithExits();
    const run = root.createChildContainer();
    bindSlot(run, catalogOf(root), 'exit', ['return-exit']);
    const exit = run.resolve(EXIT);
    expect(exit).toBeInstanceOf(ReturnExit);
    expect((exit as ReturnExit).engine).toBeInstanceOf(Engine);
    // The binding belongs to the run's container only.
    expect(root.isRegistered(EXIT, true)).toBe(false);
  });

  it('shares a container-scoped instance within one run container and not across two', () => {
    const root = rootWithExits();
    const catalog = catalogOf(root);
    const runA = root.createChildContainer();
    const runB = root.createChildContainer();
    bindSlot(runA, catalog, 'exit', ['return-exit']);
    bindSlot(runB, catalog, 'exit', ['return-exit']);

    const a1 = runA.resolve(EXIT);
    const a2 = runA.resolve(EXIT);
    const b1 = runB.resolve(EXIT);
    expect(a1).toBe(a2);
    expect(b1).toBeInstanceOf(ReturnExit);
    expect(b1).not.toBe(a1);
    expect((b1 as ReturnExit).engine).not.toBe((a1 as ReturnExit).engine);
    expect(runB.resolve(EXIT)).toBe(b1);
  });

  it('binds every name of a multiple slot, in the design order, each shared within the run', () => {
    const root = rootWithExits();
    const run = root.createChildContainer();
    bindSlot(run, catalogOf(root), 'retention', ['scrub-everything', 'keep-everything']);
    const first = run.resolveAll(RETENTION);
    expect(first.map((p) => p.name)).toEqual(['scrub-everything', 'keep-everything']);
    const second = run.resolveAll(RETENTION);
    expect(second[0]).toBe(first[0]);
    expect(second[1]).toBe(first[1]);
  });

  it('shares a container-scoped registration within its container (sanity check of tsyringe itself; bindSlot uses once-per-run factories instead, see plugins.ts)', () => {
    const run = freshRoot().createChildContainer();
    run.register(Engine, { useClass: Engine }, { lifecycle: Lifecycle.ContainerScoped });
    expect(run.resolve(Engine)).toBe(run.resolve(Engine));
    expect(run.resolve(Car).engine).toBe(run.resolve(Engine));
  });
});
