import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  buildDesignsCatalog,
  DESIGNS_CATALOG_FILE,
  designFilesHash,
  readDesignsCatalog,
  renderDesigns,
  type DesignsCatalog,
} from '../src/commands/designs';
import { designsCommand as designsFromPlugins } from '../src/commands/list';
import { BIN, efikdump, REPO, tempDir } from './helpers';

// `efikdump designs` prints from dist/designs-catalog.json, written by the build
// (scripts/designs-catalog.js). These tests catch a catalog that no longer matches the designs and
// plug-ins it was made from, and a fast path that prints something else than the slow one.

const collect = () => {
  const lines: string[] = [];
  return { lines, io: { out: (s: string) => lines.push(s), err: (s: string) => lines.push(`ERR ${s}`), tty: false } };
};

test('the catalog the build wrote is the one the design files and built-in plug-ins give now (not stale)', () => {
  const shipped = JSON.parse(readFileSync(DESIGNS_CATALOG_FILE, 'utf8')) as DesignsCatalog;
  expect(shipped).toEqual(buildDesignsCatalog());
  expect(readDesignsCatalog()).toEqual(shipped);
  expect(shipped.designs.map((d) => d.name)).toContain('classic-kexec');
  expect(shipped.plugins.length).toBeGreaterThan(10);
});

test('the catalog prints exactly what loading every plug-in prints', () => {
  const fast = collect();
  renderDesigns(buildDesignsCatalog(), fast.io);
  const slow = collect();
  expect(designsFromPlugins(slow.io)).toBe(0);
  expect(fast.lines).toEqual(slow.lines);
  // And the built command (catalog path) prints the same text.
  const r = efikdump(['designs']);
  expect(r.status).toBe(0);
  expect(r.stdout).toBe(`${slow.lines.join('\n')}\n`);
});

test('a design file changed after the build makes the catalog unusable (the command falls back to the plug-ins)', () => {
  const { dir, cleanup } = tempDir('designs-catalog');
  try {
    const designs = join(dir, 'designs');
    cpSync(join(REPO, 'apps/cli/designs'), designs, { recursive: true });
    expect(readDesignsCatalog(DESIGNS_CATALOG_FILE, designs)).toBeDefined();
    const file = join(designs, 'classic-kexec.json');
    writeFileSync(file, readFileSync(file, 'utf8').replace('"description": "', '"description": "changed: '));
    expect(designFilesHash(designs)).not.toBe(readDesignsCatalog()?.designsHash);
    expect(readDesignsCatalog(DESIGNS_CATALOG_FILE, designs)).toBeUndefined();
    writeFileSync(join(designs, 'new-design.json'), '{}');
    expect(readDesignsCatalog(DESIGNS_CATALOG_FILE, designs)).toBeUndefined();
  } finally {
    cleanup();
  }
});

test('a missing or foreign catalog file is not used', () => {
  const { dir, cleanup } = tempDir('designs-catalog');
  try {
    expect(readDesignsCatalog(join(dir, 'absent.json'))).toBeUndefined();
    writeFileSync(join(dir, 'other.json'), JSON.stringify({ format: 'something-else', designs: [], plugins: [] }));
    expect(readDesignsCatalog(join(dir, 'other.json'))).toBeUndefined();
    writeFileSync(join(dir, 'bad.json'), '{ not json');
    expect(readDesignsCatalog(join(dir, 'bad.json'))).toBeUndefined();
  } finally {
    cleanup();
  }
});

test('with EFIKDUMP_PLUGINS set, designs lists the plug-ins from outside too (the catalog only knows the built-in ones)', () => {
  const fixture = join(REPO, 'tools/fixtures/efikdump-plugin-example');
  const r = spawnSync(process.execPath, [BIN, 'designs'], { encoding: 'utf8', env: { ...process.env, EFIKDUMP_PLUGINS: fixture } });
  expect(r.status).toBe(0);
  expect(buildDesignsCatalog().plugins.map((p) => p.name)).not.toContain('example-keep-everything');
  expect(r.stdout).toMatch(/^ {2}retention +example-keep-everything +an out-of-tree example/m);
});
