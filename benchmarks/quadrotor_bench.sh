#!/usr/bin/env bash
# Issue 31's flight test: models/QuadrotorHover-v0 closed loop on qemu-stm32f4 (the
# Crazyflie 2.x's STM32F405) priced with the Crazyflie 2.1's board profile, each action
# landing after the device's own latency at 168 MHz (--timing device, 500 Hz control,
# physics steps of 0.1 ms: --physics-substeps 5, as the clock table's; PHYSICS_SUBSTEPS=1
# gives the env's own 0.5 ms, which rounds every latency under 0.5 ms up to a whole step),
# on the 100 test seeds, every device answer checked against the
# golden executor. Three benches at once (one QEMU each), each with the float policy at
# zero latency: device-f32 and int8 (post-training, calibrated now); the shipped qat_w3;
# the shipped qat_w2. Runs land in reports/quadrotor/ (resumable: run again to finish), their
# report.json and summary.md in benchmarks/results/quadrotor/ (dt500us/ with PHYSICS_SUBSTEPS=1).
# Usage: benchmarks/quadrotor_bench.sh [ptq] [qat_w3] [qat_w2]   (default: all; EPISODES=100,
#        PHYSICS_SUBSTEPS=5)
set -euo pipefail
cd "$(dirname "$0")/.."
episodes=${EPISODES:-100}
substeps=${PHYSICS_SUBSTEPS:-5}
parts=("$@"); [ ${#parts[@]} -eq 0 ] && parts=(ptq qat_w3 qat_w2)
model=models/QuadrotorHover-v0
reports=reports/quadrotor results=benchmarks/results/quadrotor
[ "$substeps" = 1 ] && reports=$reports/dt500us results=$results/dt500us
mkdir -p "$reports" "$results"
bench() {
  local name=$1; shift
  local out=$reports/$name resume=()
  [ -f "$out/run.json" ] && resume=(--resume "$out")
  if [ ${#resume[@]} -eq 0 ]; then
    .venv/bin/qhil bench --model $model --target qemu-stm32f4 --board-profile crazyflie21 \
      --timing device --physics-substeps "$substeps" --episodes "$episodes" "$@" \
      -o "$out" > "$out.log" 2>&1
  else
    .venv/bin/qhil bench "${resume[@]}" >> "$out.log" 2>&1
  fi
  cp "$out/report.json" "$results/$name.json"
  cp "$out/summary.md" "$results/$name.md"
  echo "$name done"
}
for part in "${parts[@]}"; do
  case "$part" in
    ptq) bench ptq --variants float,device-f32,int8 & ;;
    qat_w3|qat_w2) bench "$part" --variants float --blob "$model/$part.qhil" & ;;
    *) echo "unknown part $part (ptq, qat_w3, qat_w2)" >&2; exit 2 ;;
  esac
done
wait
