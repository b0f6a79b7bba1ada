#!/usr/bin/env bash
# The held-out protocol's QAT recipe (docs/evaluation.md), one recipe for every task, chosen
# on validation by issue 33's width rule:
#   qat_w3: 3-bit weights in every layer (the output layer too), 3-bit hidden activations,
#           8-bit tanh-table index, input width chosen on validation (in=auto), hidden
#           layers [256, 256];
#   qat_w2: 2-bit weights in every layer, the same hidden layers;
# both `qhil qat --hidden 256,256 --finalists 5 --average-last 5 --select-episodes 100`.
# Each task's run is a cell of the width x bits grid (benchmarks/width_bits.py: resumable,
# two at a time, then measured on validation seeds 10100..10199), copied to models/ENV/.
# Usage: benchmarks/qat_recipe.sh
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python benchmarks/width_bits.py --widths 256 --weights 3,2 --acts 3
.venv/bin/python benchmarks/width_bits.py --ship h256_w3a3 qat_w3
.venv/bin/python benchmarks/width_bits.py --ship h256_w2a3 qat_w2
