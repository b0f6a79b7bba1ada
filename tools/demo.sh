#!/usr/bin/env bash
# The main job on the embedded default: closed-loop benchmarks on QEMU's Cortex-M4.
# Pendulum-v1 and InvertedPendulum-v5, variants float (host), device-f32, int8 and the
# best low-bit export shipped in models/<env>/, 10 episodes each.
set -euo pipefail
cd "$(dirname "$0")/.."
QHIL=.venv/bin/qhil
for env in Pendulum-v1 InvertedPendulum-v5; do
  blobs=()
  for blob in models/$env/*.qhil; do
    [ -f "$blob" ] && blobs+=(--blob "$blob")
  done
  rm -rf "reports/demo/$env"  # a bench refuses a folder holding another run; the demo starts afresh
  $QHIL bench --model "models/$env" --target qemu-m4 --variants float,device-f32,int8 \
    "${blobs[@]}" --episodes 10 -o "reports/demo/$env"
done
echo
echo "reports: reports/demo/*/summary.md (Markdown) and report.json (schema qhil-report/1)"
