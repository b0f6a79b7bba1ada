#!/usr/bin/env bash
# The closed-loop section of BENCHMARKS.md: run `make demo` and keep its summaries, with the
# hashes of the exports they measured (make_benchmarks_md.py marks a summary whose exports
# were replaced since).
set -euo pipefail
cd "$(dirname "$0")/.."
make demo
for env in Pendulum-v1 InvertedPendulum-v5; do
  cp "reports/demo/$env/summary.md" "benchmarks/results/bench_$env.md"
  sha256sum models/$env/*.qhil > "benchmarks/results/bench_$env.blobs"
done
