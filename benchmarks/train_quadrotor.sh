#!/usr/bin/env bash
# The quadrotor's float policy (issue 31), one rung of the training ladder per call:
#   0  PPO on 2 subprocess envs, 500 Hz, initial attitude up to 30 deg, the last action
#      in the observation
#   1  + the last 32 actions in the observation and the reward curriculum (the error
#      penalties grow from a tenth to full weight over the first half of training)
#   3  + initial attitude up to 15 deg
#   4  + 250 Hz control
#   5  beyond the ladder: the rung-0 task (500 Hz, 30 deg, the last action), the actor
#      started as a DAgger clone of the env's PD controller (10 rounds, --set imitate=10),
#      then PPO fine-tuning from it (critic fitted to the clone's returns, small steps);
#      validation keeps the best of the clone and every PPO checkpoint
# (the issue's rung 2, PPO on 2 subprocess envs, is rung 0 here.) Each run: 2M steps (rung 5: 0.3M)
# (under an hour on this machine's 2 cores), validated on seeds 10000.. every 100k steps,
# the best validation actor kept and evaluated on the 100 test seeds, into
# benchmarks/results/quadrotor/rung<N>/ (log: train.log). The rung shipped in
# models/QuadrotorHover-v0 is the first whose validation episodes all hover.
# Usage: benchmarks/train_quadrotor.sh RUNG [extra qhil train options]
set -euo pipefail
cd "$(dirname "$0")/.."
rung=${1:?usage: benchmarks/train_quadrotor.sh RUNG}; shift
steps=2000000; every=100000
case "$rung" in
  0) env='qhil/QuadrotorHover-v0'; extra=() ;;
  1) env='qhil/QuadrotorHover-v0 {"action_history":32}'; extra=(--set curriculum=true) ;;
  3) env='qhil/QuadrotorHover-v0 {"action_history":32,"max_tilt_deg":15.0}'
     extra=(--set curriculum=true) ;;
  4) env='qhil/QuadrotorHover-v0 {"action_history":32,"control_hz":250,"max_tilt_deg":15.0}'
     extra=(--set curriculum=true) ;;
  5) env='qhil/QuadrotorHover-v0'
     extra=(--set imitate=10 --set learning_rate=1e-5 --set n_epochs=5 --set clip_range=0.1
            --set log_std_init=-3.0); steps=300000; every=50000 ;;
  *) echo "unknown rung $rung (0, 1, 3, 4, 5)" >&2; exit 2 ;;
esac
out=benchmarks/results/quadrotor/rung$rung
mkdir -p "$out"
/usr/bin/time -f "%e s wall" .venv/bin/qhil train --env "$env" --algo ppo --steps $steps \
  --net 64,64 --set gamma=0.995 --set n_envs=2 --set vec_env=subproc --set n_steps=1024 \
  --set batch_size=256 --set log_std_init=-1.0 --eval-every $every --eval-episodes 10 \
  "${extra[@]}" --force -o "$out/model" "$@" 2>&1 | stdbuf -oL tr '\r' '\n' \
  | awk 'NR % 200 == 0 || /wall|rror/ { print; fflush() }' > "$out/train.log"
