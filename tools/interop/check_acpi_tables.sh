#!/usr/bin/env bash
# Disassembles every ACPI table file in DIR with iasl -d (Debian package acpica-tools) and fails
# unless each one disassembles with exit status 0, produces a .dsl, and iasl reports no warning,
# error, or incorrect checksum. The tables are copied to a scratch directory: DIR is not touched.
# usage: check_acpi_tables.sh DIR
set -euo pipefail
dir=${1:?usage: check_acpi_tables.sh DIR}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
count=0
for table in "$dir"/*; do
  [ -f "$table" ] || continue
  count=$((count + 1))
  name=$(basename "$table")
  cp "$table" "$work/$name"
  if ! (cd "$work" && iasl -d "$name") >"$work/$name.log" 2>&1; then
    echo "FAIL $name: iasl exited non-zero"; cat "$work/$name.log"; status=1; continue
  fi
  dsl="$work/${name%.*}.dsl"
  if [ ! -s "$dsl" ]; then echo "FAIL $name: no disassembly"; cat "$work/$name.log"; status=1; continue; fi
  if grep -Eiq 'warning|error|incorrect|invalid|unknown' "$work/$name.log" \
     || grep -Eiq 'Incorrect checksum|\*\*\*\* Unknown|Invalid' "$dsl"; then
    echo "FAIL $name: iasl complained"; grep -Eih 'warning|error|incorrect|invalid|unknown' "$work/$name.log" "$dsl" || true; status=1; continue
  fi
  sig=$(grep -m1 -o 'Signature : "[^"]*"' "$dsl" | cut -d'"' -f2)
  echo "ok   $name ($sig)"
done
[ "$count" -gt 0 ] || { echo "FAIL: no tables in $dir"; exit 1; }
exit "$status"
