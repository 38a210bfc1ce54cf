import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Output } from '../output';

// `efikdump designs` from a catalog written at build time (scripts/designs-catalog.js), so that the
// command does not load every package and plug-in to print a list: 0.65 s → see
// docs/performance.md, "Issue 17, third pass". Nothing heavy is imported at the top of this module.

/** What `efikdump designs` prints, as data. */
export interface DesignsCatalog {
  format: 'efikdump-designs-catalog/2';
  /** sha256 over the built-in design files (names and bytes) the catalog was made from. */
  designsHash: string;
  designs: { name: string; description: string; components: string; firmware: string }[];
  plugins: { slot: string; name: string; description: string; options: string[] }[];
  /** The header line of the plug-in list. */
  pluginsHeader: string;
}

const CATALOG_FORMAT = 'efikdump-designs-catalog/2';
/** The CLI package's root (designs/ lives there); this file is dist/commands/designs.js or src/commands/designs.ts. */
const PACKAGE_DIR = resolve(__dirname, '..', '..');
/** Where the build writes the catalog. */
export const DESIGNS_CATALOG_FILE = join(PACKAGE_DIR, 'dist', 'designs-catalog.json');

/** sha256 over the names and bytes of the built-in design files, in name order. */
export function designFilesHash(dir: string = join(PACKAGE_DIR, 'designs')): string {
  const hash = createHash('sha256');
  for (const name of readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()) {
    const bytes = readFileSync(join(dir, name));
    hash.update(`${name}\0${bytes.length}\0`).update(bytes);
  }
  return hash.digest('hex');
}

/** The catalog from the designs and plug-ins themselves: loads every package (the slow path). */
export function buildDesignsCatalog(): DesignsCatalog {
  require('reflect-metadata');
  const core = require('@efikdump/core') as typeof import('@efikdump/core');
  const list = require('./list') as typeof import('./list');
  const { builtinDesigns } = require('../library') as typeof import('../library');
  const { createContainer } = require('../container') as typeof import('../container');
  const slots = Object.keys(core.SLOTS) as import('@efikdump/core').SlotKey[];
  return {
    format: CATALOG_FORMAT,
    designsHash: designFilesHash(),
    designs: builtinDesigns().map((d) => ({
      name: d.name,
      description: d.description,
      components: slots.map((s) => `${s}=${d.components[s].join('+')}`).join(' '),
      firmware: list.firmwareText(d.firmware?.profile),
    })),
    pluginsHeader: list.PLUGINS_HEADER,
    // The built-in plug-ins only: plug-ins from outside (EFIKDUMP_PLUGINS) take the slow path.
    plugins: core
      .catalogOf(createContainer([]))
      .list()
      .map((p) => ({ slot: p.slot, name: p.name, description: p.description, options: list.optionTexts(p.options) })),
  };
}

/**
 * The catalog the build wrote, if it is one and was made from the design files present now;
 * undefined otherwise (missing, another format, or a design file changed since the build).
 */
export function readDesignsCatalog(file: string = DESIGNS_CATALOG_FILE, designsDir?: string): DesignsCatalog | undefined {
  let catalog: DesignsCatalog;
  try {
    catalog = JSON.parse(readFileSync(file, 'utf8')) as DesignsCatalog;
  } catch {
    return undefined;
  }
  if (
    catalog?.format !== CATALOG_FORMAT ||
    !Array.isArray(catalog.designs) ||
    !Array.isArray(catalog.plugins) ||
    typeof catalog.pluginsHeader !== 'string'
  )
    return undefined;
  if (!catalog.plugins.every((p) => Array.isArray(p?.options))) return undefined;
  return catalog.designsHash === designFilesHash(designsDir) ? catalog : undefined;
}

export function renderDesigns(catalog: DesignsCatalog, io: Output): void {
  for (const d of catalog.designs) {
    io.out(d.name);
    io.out(`    ${d.description}`);
    io.out(`    ${d.components}`);
    io.out(`    ${d.firmware}`);
  }
  io.out('');
  io.out(catalog.pluginsHeader);
  for (const p of catalog.plugins) {
    io.out(`  ${p.slot.padEnd(10)} ${p.name.padEnd(24)} ${p.description}`);
    for (const line of p.options) io.out(`  ${''.padEnd(10)} ${''.padEnd(24)}   ${line}`);
  }
}

/**
 * `efikdump designs`: from the build's catalog when it is current and no plug-in comes from
 * outside; otherwise from the designs and plug-ins themselves, with those of EFIKDUMP_PLUGINS.
 */
export function designsCommand(io: Output, env: NodeJS.ProcessEnv = process.env): number {
  const catalog = env.EFIKDUMP_PLUGINS ? undefined : readDesignsCatalog();
  if (catalog) {
    renderDesigns(catalog, io);
    return 0;
  }
  require('reflect-metadata');
  return (require('./list') as typeof import('./list')).designsCommand(io);
}
