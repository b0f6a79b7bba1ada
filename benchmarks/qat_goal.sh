#!/usr/bin/env bash
# Issue #6's goal, measured: for every shipped model, its <= 3-bit export (3-bit weights
# and activations in every hidden layer) run closed loop on qemu-m4 against the float
# policy, 20 episodes on seeds 0..19, every device answer checked against the golden
# executor; then observation-noise robustness on native (10 episodes, noise 0/0.05/0.1).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p benchmarks/results
for dir in models/*/; do
  env=$(basename "$dir")
  blob="$dir/qat_w3a3_out8.qhil"
  [ -f "$blob" ] || blob="$dir/qat_w3a3.qhil"
  rm -rf "reports/goal/$env" "reports/noise/$env"
  .venv/bin/qhil -q bench --model "$dir" --target qemu-m4 --variants float --blob "$blob" \
    --episodes 20 -o "reports/goal/$env"
  cp "reports/goal/$env/report.json" "benchmarks/results/goal_$env.json"
  .venv/bin/qhil -q bench --model "$dir" --target native --variants float --blob "$blob" \
    --episodes 10 --noise 0,0.05,0.1 -o "reports/noise/$env"
  cp "reports/noise/$env/report.json" "benchmarks/results/noise_$env.json"
done
