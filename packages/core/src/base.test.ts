import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import * as base from './base';
import * as core from './index';

// `@efikdump/core/base` is the entry for commands that must start fast: it must not reach RxJS,
// tsyringe or reflect-metadata at run time, and must be the same modules the full entry exports.

/** The run-time imports (not `import type`) of a source file: relative paths resolved, packages as named. */
function runtimeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const m of text.matchAll(/^(?:import|export)\s+(type\s+)?(?:[^;]*?\sfrom\s+)?'([^']+)';/gms)) {
    if (m[1]) continue;
    // `import { type A, type B } from` has no value either.
    const names = /\{([^}]*)\}/.exec(m[0])?.[1];
    if (
      names !== undefined &&
      names
        .split(',')
        .map((n) => n.trim())
        .filter(Boolean)
        .every((n) => n.startsWith('type '))
    )
      continue;
    found.push(m[2].startsWith('.') ? resolve(dirname(file), `${m[2]}.ts`) : m[2]);
  }
  return found;
}

function closure(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const todo = [entry];
  while (todo.length) {
    const file = todo.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    for (const dep of runtimeImports(file)) {
      if (dep.endsWith('.ts')) todo.push(dep);
      else packages.add(dep);
    }
  }
  return { files, packages };
}

test('base reaches no RxJS, tsyringe or reflect-metadata, and none of the pipeline modules', () => {
  const { files, packages } = closure(join(__dirname, 'base.ts'));
  expect([...packages].filter((p) => !p.startsWith('node:')).sort()).toEqual([]);
  const names = [...files].map((f) => f.slice(__dirname.length + 1));
  for (const heavy of [
    'clock.ts',
    'events.ts',
    'stage.ts',
    'runner.ts',
    'plugins.ts',
    'lab/truth-stages.ts',
    'lab/judge.ts',
    'config.ts',
    'index.ts',
  ]) {
    expect(names).not.toContain(heavy);
  }
  // The walk is real: base's own modules are found.
  expect(names).toEqual(expect.arrayContaining(['errors.ts', 'io.ts', 'formats/elf.ts', 'units.ts']));
});

test('everything base exports is the same value through @efikdump/core', () => {
  const names = Object.keys(base);
  expect(names.length).toBeGreaterThan(50);
  for (const name of names)
    expect([name, (core as Record<string, unknown>)[name]]).toEqual([name, (base as Record<string, unknown>)[name]]);
  expect(base.FormatError).toBe(core.FormatError);
});
