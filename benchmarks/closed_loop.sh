#!/usr/bin/env bash
# The closed-loop section of BENCHMARKS.md: run `make demo` and keep its summaries.
set -euo pipefail
cd "$(dirname "$0")/.."
make demo
for env in Pendulum-v1 InvertedPendulum-v5; do
  cp "reports/demo/$env/summary.md" "benchmarks/results/bench_$env.md"
done
