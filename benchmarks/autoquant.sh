#!/usr/bin/env bash
# Issue #6's automatic selection, end to end with its wall time: sensitivity, search under
# a weight budget, QAT of 3 candidates, one bit-exact closed-loop episode each on qemu-m4,
# Pareto front; the chosen blob is installed in models/<env>/autoquant_*.qhil.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p benchmarks/results runs/autoquant
aq() {  # env budget
  rm -rf "runs/autoquant/$1"
  /usr/bin/time -f "%e" -o "runs/autoquant-$1.wall" .venv/bin/qhil -q autoquant \
    --model "models/$1" --budget "$2" --target qemu-m4 -o "runs/autoquant/$1" > /dev/null
  cp "runs/autoquant/$1/autoquant.json" "benchmarks/results/autoquant_$1.json"
  cp "runs/autoquant/$1/pareto.png" "benchmarks/results/autoquant_$1_pareto.png"
}
aq Pendulum-v1 weight_bytes=1800
aq HalfCheetah-v5 weight_bytes=2400
# The installed exports on the held-out protocol's test seeds (autoquant chose on
# validation seeds only; this measures what it chose).
for env in Pendulum-v1 HalfCheetah-v5; do
  .venv/bin/qhil -q eval --model "models/$env" --blob models/$env/autoquant_*.qhil \
    --json "benchmarks/results/autoquant_${env}_heldout.json" > /dev/null
done
