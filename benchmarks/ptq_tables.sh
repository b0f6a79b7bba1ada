#!/usr/bin/env bash
# The PTQ table of BENCHMARKS.md: every shipped model at uniform 8..2 bits, weight-only
# widths and first/last-layer-wide mixes, 100 episodes on the test seeds of docs/evaluation.md (golden executor).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p benchmarks/results
for dir in models/*/; do
  env=$(basename "$dir")
  .venv/bin/qhil -q sweep-bits --model "$dir" --episodes 100 \
    --json "benchmarks/results/ptq_$env.json" --plot "benchmarks/results/ptq_$env.png" \
    > "benchmarks/results/ptq_$env.txt"
  cat "benchmarks/results/ptq_$env.txt"
done
