#!/usr/bin/env node
'use strict';
// Build step of @efikdump/cli (after tsc): writes dist/designs-catalog.json, what `efikdump designs`
// prints, from the design files and the built-in plug-ins (src/commands/designs.ts).
const { renameSync, writeFileSync } = require('node:fs');
const { buildDesignsCatalog, DESIGNS_CATALOG_FILE } = require('../dist/commands/designs.js');

const text = `${JSON.stringify(buildDesignsCatalog(), null, 2)}\n`;
const tmp = `${DESIGNS_CATALOG_FILE}.${process.pid}.tmp`;
writeFileSync(tmp, text);
renameSync(tmp, DESIGNS_CATALOG_FILE);
