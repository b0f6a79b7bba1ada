#!/usr/bin/env bash
# The held-out protocol's QAT recipe (docs/evaluation.md), one recipe for every task:
#   qat_w3: 3-bit weights in every layer (the output layer too), 3-bit hidden activations,
#           8-bit tanh-table index, input width chosen on validation (in=auto);
#   qat_w2: 2-bit weights in both hidden layers, 8-bit output-layer weights and
#           activations (fixed by the recipe, not chosen per task), input width in=auto.
# Defaults of `qhil qat` otherwise (60 DAgger iterations, cosine learning rate, perturbed
# rollouts, 20 validation episodes, 100 paired test episodes). Two jobs at a time.
# Usage: benchmarks/qat_recipe.sh [ENV ...]   (default: every models/*/)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p benchmarks/results/qat_recipe
envs=("$@")
if [ ${#envs[@]} -eq 0 ]; then
  for d in models/*/; do envs+=("$(basename "$d")"); done
fi
jobs=()
for env in "${envs[@]}"; do
  jobs+=("$env qat_w3 w=3 a=3,3,8 in=auto")
  jobs+=("$env qat_w2 w=2,2,8 a=8 in=auto")
done
printf '%s\n' "${jobs[@]}" | xargs -P 2 -I{} bash -c '
  set -- {}
  env=$1; name=$2; shift 2
  /usr/bin/time -f "%e s wall" .venv/bin/qhil qat --model "models/$env" --bits "$*" \
    -o "models/$env/$name.qhil" > "benchmarks/results/qat_recipe/${env}_$name.log" 2>&1
  tail -1 "benchmarks/results/qat_recipe/${env}_$name.log"'
