#!/usr/bin/env bash
# Per-part sensitivity of every shipped model (qhil sensitivity: only one part quantized,
# the rest 8-bit with 16-bit inputs; 3 validation episodes per probe), two at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p benchmarks/results
run() {
  .venv/bin/qhil -q sensitivity --model "models/$1" --episodes 3 -o "reports/sensitivity/$1" \
    > /dev/null
  cp "reports/sensitivity/$1/sensitivity.json" "benchmarks/results/sensitivity_$1.json"
  cp "reports/sensitivity/$1/sensitivity.png" "benchmarks/results/sensitivity_$1.png"
}
envs=(Pendulum-v1 InvertedPendulum-v5 InvertedDoublePendulum-v5 Hopper-v5 HalfCheetah-v5
      Walker2d-v5)
for ((i = 0; i < ${#envs[@]}; i += 2)); do
  run "${envs[i]}" & first=$!
  run "${envs[i + 1]}" & second=$!
  wait "$first"
  wait "$second"
done
