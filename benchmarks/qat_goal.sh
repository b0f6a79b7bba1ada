#!/usr/bin/env bash
# The shipped QAT exports on the device: qat_w3 (against the float policy on the host),
# qat_w2 and qat_w3a4, closed loop on qemu-m4 on the first 20 test seeds (100000..100019),
# every device answer checked against the golden executor. The 100-episode test returns in
# the sidecars are the golden executor's; a bit-exact device computes the same codes, so its
# returns on these seeds must equal the sidecar's (make_benchmarks_md.py checks it).
# Two benches at a time. Usage: [EXPORTS="qat_w3"] benchmarks/qat_goal.sh [ENV ...]
# (EXPORTS: which of qat_w3, qat_w2 and qat_w3a4 to run, all three by default; a folder
# without the export is skipped)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p benchmarks/results
envs=("$@")
if [ ${#envs[@]} -eq 0 ]; then
  for d in models/*/; do envs+=("$(basename "$d")"); done
fi
jobs=()
exports=${EXPORTS:-qat_w3 qat_w2 qat_w3a4}
for env in "${envs[@]}"; do
  for pair in goal:qat_w3 goal_w2:qat_w2 goal_a4:qat_w3a4; do
    kind=${pair%%:*} blob=${pair#*:}
    if [[ " $exports " == *" $blob "* && -f "models/$env/$blob.qhil" ]]; then
      jobs+=("$env $kind qemu-m4 20 0 $blob")
    fi
  done
done
printf '%s\n' "${jobs[@]}" | xargs -P 2 -I{} bash -c '
  set -- {}
  env=$1 kind=$2 target=$3 episodes=$4 noise=$5 blob=$6
  out="reports/$kind/$env"
  variants=float; [ "$kind" = goal ] || variants=""
  rm -rf "$out"; mkdir -p "$(dirname "$out")"
  .venv/bin/qhil -q bench --model "models/$env" --target "$target" --variants "$variants" \
    --blob "models/$env/$blob.qhil" --episodes "$episodes" --noise "$noise" -o "$out" \
    > "$out.log" 2>&1 || { echo "$kind $env failed: $out.log"; exit 1; }
  cp "$out/report.json" "benchmarks/results/${kind}_$env.json"
  echo "$kind $env done"'
