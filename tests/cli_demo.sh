#!/usr/bin/env bash
# cli_demo.sh SDSINF DATA - the demo runs end to end (small sizes).
set -eu
sdsinf=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$sdsinf" demo --neurons 256 --layers 24 --images 300 --out "$tmp/demo" | tee "$tmp/log"
grep -q "demo passed" "$tmp/log"
echo "PASS"
