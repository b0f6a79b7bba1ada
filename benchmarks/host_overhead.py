"""Closed-loop speed: steps/s and the host's own work per step -> results/host_overhead.json.

    .venv/bin/python benchmarks/host_overhead.py [--targets native,qemu-m4] [--steps 4000]

Runs the bench's own episode loop (qhil.bench.runner.run_bench_episode): per step env.step,
quantize the observation, the device round trip (INFER), dequantize; the golden check of
every step at the end of each episode. Host overhead = wall time - env.step - round trips
(targets of issue #5: <= 50 us per step; >= 10k steps/s native, >= 1.5k on qemu-m4).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from qhil.bench.policies import DeviceInteger
from qhil.bench.runner import run_bench_episode
from qhil.bench.session import DeviceSession
from qhil.common.envs import make_env
from qhil.common.model_dir import load_model_dir
from qhil.quant.blob import write_blob
from qhil.quant.config import parse_bits
from qhil.quant.pipeline import Calibrator, PTQOptions
from qhil.targets import start_target

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "host_overhead.json"


def measure(target_name: str, steps: int) -> dict[str, float | str]:
    """The bench's own episode loop (run_bench_episode, every answer checked), timed."""
    model = load_model_dir(ROOT / "models" / "Pendulum-v1")
    qmodel = Calibrator(model, PTQOptions(calib_episodes=5)).quantize(parse_bits("int8", 3))
    blob = write_blob(qmodel)
    variant = DeviceInteger.of("int8", qmodel, blob)
    env = make_env(model.env_id)
    episodes = max(steps // 200, 1)  # Pendulum episodes are 200 steps
    with start_target(target_name, timeout=5.0) as target:
        session = DeviceSession(target)
        session.load(blob)
        run_bench_episode(variant, model.actor, env, 99, session)  # warm-up
        start = time.perf_counter()
        results = [run_bench_episode(variant, model.actor, env, seed, session)
                   for seed in range(episodes)]
        total = time.perf_counter() - start
    env.close()
    if any(r.mismatch_count for r in results):
        raise SystemExit("device answers differ from the golden executor")
    n = sum(r.steps for r in results)
    t_env = sum(r.env_s for r in results)
    t_link = sum(sum(r.rtt_s) for r in results)
    return {"target": target_name, "steps": n,
            "steps_per_s": round(n / total, 1),
            "env_step_us": round(1e6 * t_env / n, 1),
            "round_trip_us": round(1e6 * t_link / n, 1),
            "host_overhead_us": round(1e6 * (total - t_env - t_link) / n, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", default="native,qemu-m4")
    parser.add_argument("--steps", type=int, default=4000)
    args = parser.parse_args()
    rows = [measure(t, args.steps) for t in args.targets.split(",") if t]
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(rows, indent=2) + "\n")
    for r in rows:
        print(r)


if __name__ == "__main__":
    main()
