#!/usr/bin/env node
'use strict';
// The efikdump command. Built code lives in ../dist (run `npm run build` at the repository root).
require('../dist/main.js').runCli(process.argv.slice(2));
