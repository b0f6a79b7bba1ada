#!/usr/bin/env bash
# The main job on the embedded default. Until the closed-loop bench lands (issue 5), this
# evaluates the shipped float policies and the golden integer policy of each.
set -euo pipefail
cd "$(dirname "$0")/.."
QHIL=.venv/bin/qhil
out=build/demo
mkdir -p "$out"
shopt -s nullglob
for dir in models/*/; do
  [ -f "$dir/meta.json" ] || continue
  name=$(basename "$dir")
  echo "== $name"
  $QHIL -q quantize --model "$dir" --bits int8 --calib-episodes 5 -o "$out/$name.int8.qhil" >/dev/null
  $QHIL -q eval --model "$dir" --blob "$out/$name.int8.qhil" --episodes 5 --json "$out/$name.json"
done
echo "results: $out/*.json"
