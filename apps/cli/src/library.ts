import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  catalogOf,
  checkComponents,
  ConfigError,
  parseDesign,
  parseScenario,
  readJsonFile,
  type Design,
  type PluginCatalog,
  type PluginRef,
  type Scenario,
} from '@efikdump/core';
import { createContainer } from './container';

/** Built-in designs and scenarios ship as files beside the CLI package. */
export const BUILTIN_DIR = resolve(__dirname, '..');

function listJson(dir: string): string[] {
  return existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.json'))
        .sort()
        .map((f) => join(dir, f))
    : [];
}

export function builtinDesigns(): Design[] {
  return listJson(join(BUILTIN_DIR, 'designs')).map((f) => parseDesign(readJsonFile(f), f));
}

export function builtinScenarios(): Scenario[] {
  return listJson(join(BUILTIN_DIR, 'scenarios')).map((f) => parseScenario(readJsonFile(f), f));
}

const looksLikePath = (s: string) => s.includes('/') || s.endsWith('.json');

let builtinCatalog: PluginCatalog | undefined;

/**
 * Refuses a design whose detector cannot read the records of its transport (the stub would never
 * see the crash and every run would end `no-dump`). A detector states what it reads with a static
 * `transports` list; one without it asks the design's transport whatever it is
 * (transport-discovery, reset-reason), combines the others (any-of), or looks for nothing on
 * purpose (none).
 */
export function checkDetectorReadsTransport(design: Design, extraPlugins: readonly PluginRef[] = []): void {
  // The plug-ins the run will have: the built-in ones, and those the design and the command line name.
  const refs = [...extraPlugins, ...(design.plugins ?? [])];
  const plugins = refs.length ? catalogOf(createContainer(refs)) : (builtinCatalog ??= catalogOf(createContainer()));
  const [detector] = design.components.detector;
  const [transport] = design.components.transport;
  // An unknown name is reported as such (the catalog's error) before any pairing is judged.
  plugins.get('transport', transport, { file: design.source, field: 'components.transport' });
  const entry = plugins.get('detector', detector, { file: design.source, field: 'components.detector' });
  // Every other name too, and every component's options against its plug-in's schema, so a sweep fails before its first run rather than inside a worker.
  checkComponents(plugins, design);
  const reads = (entry.implementation as { transports?: readonly string[] }).transports;
  if (reads && !reads.includes(transport)) {
    throw new ConfigError(
      `detector "${detector}" reads only the ${reads.join(' and ')} transport${reads.length === 1 ? '' : 's'}, not "${transport}" (components.transport): ` +
        'the stub would never see the crash; pair it with a transport it reads, or use transport-discovery (any transport) or any-of',
      { file: design.source, field: 'components.detector' },
    );
  }
}

/**
 * A design by built-in name, or from a file path; its detector must read its transport (judged
 * with the design's plug-ins and `extraPlugins`, those of --plugin and EFIKDUMP_PLUGINS).
 */
export function loadDesign(nameOrPath: string, extraPlugins: readonly PluginRef[] = []): Design {
  let design: Design | undefined;
  if (looksLikePath(nameOrPath)) design = parseDesign(readJsonFile(nameOrPath), nameOrPath);
  else {
    const all = builtinDesigns();
    design = all.find((d) => d.name === nameOrPath);
    if (!design)
      throw new ConfigError(`Unknown design: ${nameOrPath} (known: ${all.map((d) => d.name).join(', ')}; or give a file path)`, {
        field: '--design',
      });
  }
  checkDetectorReadsTransport(design, extraPlugins);
  return design;
}

export function loadScenario(nameOrPath: string): Scenario {
  if (looksLikePath(nameOrPath)) return parseScenario(readJsonFile(nameOrPath), nameOrPath);
  const all = builtinScenarios();
  const found = all.find((s) => s.name === nameOrPath);
  if (!found)
    throw new ConfigError(`Unknown scenario: ${nameOrPath} (known: ${all.map((s) => s.name).join(', ')}; or give a file path)`, {
      field: '--scenario',
    });
  return found;
}
