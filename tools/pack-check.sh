#!/usr/bin/env bash
# Packs every published package as npm would publish it, installs the tarballs together in an empty
# project outside the workspace, and checks there: each package loads, its types are present, LICENSE
# ships, no test or fixture leaked, every source map points at a file in the tarball, and the
# installed `efikdump` command runs.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
packages=(@efikdump/core @efikdump/firmware-uefi @efikdump/kernel-crash @efikdump/transports @efikdump/stub @efikdump/vmcore @efikdump/cli)
(cd "$repo" && npm run build --silent >/dev/null)
for p in "${packages[@]}"; do
  (cd "$repo" && npm pack -w "$p" --pack-destination "$work" --silent >/dev/null)
done
for tarball in "$work"/*.tgz; do
  listing=$(tar -tzf "$tarball")
  for want in package/dist/index.d.ts package/dist/index.js package/LICENSE package/package.json; do
    grep -qx "$want" <<<"$listing" || { echo "pack-check: $want missing from $(basename "$tarball")" >&2; exit 1; }
  done
  if grep -E '\.test\.|__fixtures__|/testing/|tsbuildinfo' <<<"$listing" >/dev/null; then
    echo "pack-check: tests, fixtures or build info leaked into $(basename "$tarball")" >&2; exit 1
  fi
done
mkdir "$work/plugin" && (cd "$repo/tools/fixtures/efikdump-plugin-example" && npm pack --pack-destination "$work/plugin" --silent >/dev/null)
mkdir "$work/consumer" && cd "$work/consumer"
npm init -y >/dev/null
npm install --no-audit --no-fund --silent "$work"/*.tgz "$work"/plugin/*.tgz
node -e '
const fs = require("node:fs"), path = require("node:path");
const names = process.argv.slice(1);
for (const name of names) {
  const mod = require(name);
  if (typeof mod.register !== "function" && !["@efikdump/cli", "@efikdump/core"].includes(name)) throw new Error(name + " exports no register()");
  const root = path.dirname(require.resolve(name + "/package.json"));
  let maps = 0;
  const walk = (dir) => { for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const f = path.join(dir, e.name);
    if (e.isDirectory()) walk(f);
    else if (f.endsWith(".map")) {
      maps++;
      const map = JSON.parse(fs.readFileSync(f, "utf8"));
      for (const s of map.sources) if (!fs.existsSync(path.resolve(path.dirname(f), map.sourceRoot || "", s))) throw new Error(name + ": " + f + " points at missing " + s);
    } else if (/\.(js|d\.ts)$/.test(f)) {
      const m = /sourceMappingURL=(\S+)/.exec(fs.readFileSync(f, "utf8"));
      if (m && !fs.existsSync(path.resolve(path.dirname(f), m[1]))) throw new Error(name + ": " + f + " refers to missing map " + m[1]);
    }
  } };
  walk(path.join(root, "dist"));
  if (!maps) throw new Error(name + " ships no source maps");
}
const core = require("@efikdump/core");
const m = new core.PhysicalMemory({ seed: 1, ram: [{ start: 0, end: 1 << 30 }] });
if (m.pageSha256(12345).length !== 64) throw new Error("pageSha256 broken");
console.log("pack-check: " + names.length + " packages install, load and map to their sources outside the workspace");
' "${packages[@]}"
npx --no-install efikdump designs >/dev/null
echo "pack-check: the installed efikdump command runs"

# An out-of-tree plug-in, installed from its tarball beside the CLI, named by a design file.
cat > mine.json <<'JSON'
{ "format": "efikdump-design/1", "name": "mine", "description": "efivar design with a plug-in's retention policy",
  "plugins": ["efikdump-plugin-example"],
  "components": { "firmware": "uefi", "retention": ["example-keep-everything"], "kernel": "linux", "transport": "efi-variable",
    "exit": "efi-warm-reset", "detector": "efi-variable-flag", "stub": "linux-efi-stub", "capture": "linux-vmcore", "writer": "elf" },
  "firmware": { "profile": "ovmf" },
  "kernel": { "cmdline": "root=/dev/vda1 ro console=ttyS0 nokaslr crashkernel=0M-1G:128M,1G-4G:192M,4G-64G:256M,64G-:512M" } }
JSON
out=$(npx --no-install efikdump run --design ./mine.json --memory 256MiB || true)
grep -q 'retention example-keep-everything: 0 pages changed' <<<"$out" || { echo "pack-check: the plug-in's policy did not run:" >&2; echo "$out" >&2; exit 1; }
echo "pack-check: a plug-in installed from its tarball runs through efikdump run"
