#!/usr/bin/env bash
# Reproduce the float actors shipped in models/ (results: BENCHMARKS.md#float-baselines).
# Single-threaded jobs side by side: on 2 cores that beats one 2-thread job. The wall
# times in meta.json were measured with 3-4 of these jobs sharing the 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
QHIL=.venv/bin/qhil
mkdir -p runs
(
  $QHIL train --env Walker2d-v5 --algo td3 --steps 300000 --eval-every 20000 -o models/Walker2d-v5
) > runs/train_walker.log 2>&1 &
(
  $QHIL train --env Hopper-v5 --algo td3 --steps 250000 --eval-every 20000 -o models/Hopper-v5
  $QHIL train --env HalfCheetah-v5 --algo td3 --steps 120000 -o models/HalfCheetah-v5
) > runs/train_hopper_cheetah.log 2>&1 &
(
  $QHIL train --env Pendulum-v1 --algo td3 --steps 20000 --eval-every 2000 -o models/Pendulum-v1
  $QHIL train --env InvertedDoublePendulum-v5 --algo td3 --steps 50000 --eval-every 5000 \
    --set learning_starts=10000 -o models/InvertedDoublePendulum-v5
  $QHIL train --env InvertedPendulum-v5 --algo td3 --steps 30000 --eval-every 3000 \
    -o models/InvertedPendulum-v5
) > runs/train_small.log 2>&1 &
wait
