#!/usr/bin/env bash
# The quadrotor's float policy (issue 31): PPO on 2 subprocess envs, 2M steps (about an
# hour on this machine's 2 cores), validated on seeds 10000.. every 100k steps; the best
# validation actor is kept and evaluated on the 100 test seeds (models/QuadrotorHover-v0).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/qhil train --env qhil/QuadrotorHover-v0 --algo ppo --steps 2000000 --net 64,64 \
  --set gamma=0.995 --set n_envs=2 --set vec_env=subproc --set n_steps=1024 \
  --set batch_size=256 --set log_std_init=-1.0 --eval-every 100000 --eval-episodes 10 \
  -o models/QuadrotorHover-v0 "$@"
