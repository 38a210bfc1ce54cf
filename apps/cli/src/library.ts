import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError, parseDesign, parseScenario, readJsonFile, type Design, type Scenario } from '@efikdump/core';

/** Built-in designs and scenarios ship as files beside the CLI package. */
export const BUILTIN_DIR = resolve(__dirname, '..');

function listJson(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')).sort().map((f) => join(dir, f)) : [];
}

export function builtinDesigns(): Design[] {
  return listJson(join(BUILTIN_DIR, 'designs')).map((f) => parseDesign(readJsonFile(f), f));
}

export function builtinScenarios(): Scenario[] {
  return listJson(join(BUILTIN_DIR, 'scenarios')).map((f) => parseScenario(readJsonFile(f), f));
}

const looksLikePath = (s: string) => s.includes('/') || s.endsWith('.json');

/** A design by built-in name, or from a file path. */
export function loadDesign(nameOrPath: string): Design {
  if (looksLikePath(nameOrPath)) return parseDesign(readJsonFile(nameOrPath), nameOrPath);
  const all = builtinDesigns();
  const found = all.find((d) => d.name === nameOrPath);
  if (!found) throw new ConfigError(`Unknown design: ${nameOrPath} (known: ${all.map((d) => d.name).join(', ')}; or give a file path)`, { field: '--design' });
  return found;
}

export function loadScenario(nameOrPath: string): Scenario {
  if (looksLikePath(nameOrPath)) return parseScenario(readJsonFile(nameOrPath), nameOrPath);
  const all = builtinScenarios();
  const found = all.find((s) => s.name === nameOrPath);
  if (!found) throw new ConfigError(`Unknown scenario: ${nameOrPath} (known: ${all.map((s) => s.name).join(', ')}; or give a file path)`, { field: '--scenario' });
  return found;
}
