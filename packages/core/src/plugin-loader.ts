import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import type { DependencyContainer } from 'tsyringe';
import { ConfigError, isEfikdumpError } from './errors';
import { catalogOf } from './plugins';

/**
 * A plug-in package a design (or the command line) names: an npm package name, resolved like
 * `require` would from `from`, or a path (`./local`, `../x`, `/abs`) relative to `from`.
 */
export interface PluginRef {
  spec: string;
  /** Directory the spec is resolved from: the design file's folder, or the working directory. */
  from: string;
  /** Where the name came from, for error messages: a design file, `--plugin` or `EFIKDUMP_PLUGINS`. */
  source: string;
}

/** What a plug-in package exports: the same contract as the built-in packages. */
interface PluginModule {
  register?: (container: DependencyContainer) => void;
}

const isPath = (spec: string) => spec.startsWith('./') || spec.startsWith('../') || spec === '.' || spec === '..' || isAbsolute(spec);

/** The file `require` would load for a reference, or a ConfigError naming where it looked. */
export function resolvePlugin(ref: PluginRef): string {
  const req = createRequire(join(ref.from, '__efikdump_plugin_resolver__.js'));
  const target = isPath(ref.spec) ? resolve(ref.from, ref.spec) : ref.spec;
  try {
    return req.resolve(target);
  } catch {
    const where = isPath(ref.spec) ? target : (req.resolve.paths(ref.spec) ?? []).join(', ');
    throw new ConfigError(`plug-in package "${ref.spec}" not found (looked for ${isPath(ref.spec) ? 'it at' : 'it in'} ${where})`, {
      file: ref.source,
      field: 'plugins',
    });
  }
}

/** Node's module errors append a multi-line require stack; the CLI prints one line. */
const firstLine = (e: unknown) => String((e as Error)?.message ?? e).split('\n')[0];

const loaded = new WeakMap<DependencyContainer, Set<string>>();

/**
 * Loads each plug-in package and calls its `register(container)`, once per container and module
 * file. Errors name the package and the file or option that named it.
 */
export function loadPlugins(container: DependencyContainer, refs: readonly PluginRef[]): string[] {
  let done = loaded.get(container);
  if (!done) loaded.set(container, (done = new Set()));
  const files: string[] = [];
  for (const ref of refs) {
    const file = resolvePlugin(ref);
    files.push(file);
    if (done.has(file)) continue;
    let mod: PluginModule;
    try {
      mod = require(file) as PluginModule;
    } catch (e) {
      if (isEfikdumpError(e)) throw e;
      throw new ConfigError(`plug-in package "${ref.spec}" (${file}) failed to load: ${firstLine(e)}`, {
        file: ref.source,
        field: 'plugins',
      });
    }
    if (typeof mod.register !== 'function') {
      throw new ConfigError(`plug-in package "${ref.spec}" (${file}) exports no register(container) function`, {
        file: ref.source,
        field: 'plugins',
      });
    }
    const before = catalogOf(container).list().length;
    try {
      mod.register(container);
    } catch (e) {
      if (isEfikdumpError(e)) throw e;
      throw new ConfigError(`plug-in package "${ref.spec}" failed to register: ${firstLine(e)}`, { file: ref.source, field: 'plugins' });
    }
    if (catalogOf(container).list().length === before) {
      throw new ConfigError(
        `plug-in package "${ref.spec}" (${file}) registered nothing: its register(container) must call registerPlugin for each implementation`,
        { file: ref.source, field: 'plugins' },
      );
    }
    done.add(file);
  }
  return files;
}

/** Plug-in references from a comma-separated list (`--plugin a,b`, `EFIKDUMP_PLUGINS`), resolved from `from`. */
export function pluginRefsFromList(list: string | undefined, from: string, source: string): PluginRef[] {
  if (!list) return [];
  return list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((spec) => ({ spec, from, source }));
}
