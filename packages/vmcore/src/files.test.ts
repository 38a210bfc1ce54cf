import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import * as files from './files';
import * as vmcore from './index';

// `@efikdump/vmcore/files` is what `efikdump convert`, `inspect` loads: it may reach only core's
// light entry (`@efikdump/core/base`), never the full one (RxJS, tsyringe) nor the plug-ins.

function runtimeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const m of text.matchAll(/^(?:import|export)\s+(type\s+)?(?:[^;]*?\sfrom\s+)?'([^']+)';/gms)) {
    if (m[1]) continue;
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

test('files reaches @efikdump/core/base and Node only (codec packages are loaded lazily by the workers)', () => {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const todo = [join(__dirname, 'files.ts')];
  while (todo.length) {
    const file = todo.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const dep of runtimeImports(file)) {
      if (dep.endsWith('.ts')) todo.push(dep);
      else packages.add(dep);
    }
  }
  expect([...packages].filter((p) => !p.startsWith('node:')).sort()).toEqual(['@efikdump/core/base']);
  const names = [...seen].map((f) => f.slice(__dirname.length + 1));
  expect(names).toEqual(
    expect.arrayContaining(['convert/convert.ts', 'reader/elf-core-file.ts', 'writers/kdump-compressed/kdump-compressed.writer.ts']),
  );
  expect(names.filter((n) => n.startsWith('capture/'))).toEqual([]);
});

test('everything files exports is the same value through @efikdump/vmcore', () => {
  const names = Object.keys(files);
  expect(names.length).toBeGreaterThan(30);
  for (const name of names)
    expect([name, (vmcore as Record<string, unknown>)[name]]).toEqual([name, (files as Record<string, unknown>)[name]]);
});
