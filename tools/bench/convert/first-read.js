'use strict';
/**
 * Preload for the "convert reaching its first read" benchmark case:
 *   EFIKDUMP_FIRST_READ_OF=INPUT node -r first-read.js efikdump.js convert INPUT ...
 * At the first read of INPUT (fs.readSync or fs.read on a descriptor opened on it) it prints
 * `first read of the input at N ms` (performance.now(): milliseconds since the Node process's time
 * origin, its start) to stderr and exits 0, so the case's wall time is start-up to first read.
 * Only the benchmark uses it; the CLI knows nothing of it.
 */
const fs = require('node:fs');
const { resolve } = require('node:path');

const target = resolve(process.env.EFIKDUMP_FIRST_READ_OF ?? '');
const fds = new Set();
const origOpenSync = fs.openSync;
fs.openSync = function openSync(path, ...rest) {
  const fd = origOpenSync.call(this, path, ...rest);
  if (typeof path === 'string' && resolve(path) === target) fds.add(fd);
  return fd;
};
const reached = (fd) => {
  if (!fds.has(fd)) return;
  process.stderr.write(`first read of the input at ${performance.now().toFixed(1)} ms\n`);
  process.exit(0);
};
for (const name of ['readSync', 'read']) {
  const orig = fs[name];
  fs[name] = function (fd, ...rest) {
    reached(fd);
    return orig.call(this, fd, ...rest);
  };
}
