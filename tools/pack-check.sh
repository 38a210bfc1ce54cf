#!/usr/bin/env bash
# Packs @efikdump/core as npm would publish it, installs the tarball in an empty project outside the
# workspace, and checks that its public API loads and works there (types included).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$repo" && npm run build --silent >/dev/null && npm pack -w @efikdump/core --pack-destination "$work" --silent >/dev/null)
tarball=$(ls "$work"/efikdump-core-*.tgz)
listing=$(tar -tzf "$tarball")
grep -q 'package/dist/index.d.ts' <<<"$listing"
if grep -qE '\.test\.|__fixtures__|/src/' <<<"$listing"; then echo "pack-check: tests or sources leaked into $tarball" >&2; exit 1; fi
mkdir "$work/consumer" && cd "$work/consumer"
npm init -y >/dev/null
npm install --no-audit --no-fund --silent "$tarball"
node -e '
const core = require("@efikdump/core");
const m = new core.PhysicalMemory({ seed: 1, ram: [{ start: 0, end: 1 << 30 }] });
if (m.pageSha256(12345).length !== 64) throw new Error("pageSha256 broken");
if (core.parseSize("4GiB") !== 4 * 2 ** 30) throw new Error("parseSize broken");
if (typeof core.createRun !== "function") throw new Error("createRun missing");
console.log("pack-check: @efikdump/core tarball installs and works outside the workspace");
'
test -f node_modules/@efikdump/core/dist/index.d.ts
