"""Closed-loop speed: steps/s and the host's own work per step -> results/host_overhead.json.

    .venv/bin/python benchmarks/host_overhead.py [--targets native,qemu-m4] [--steps 4000]

Per step the bench does: env.step, quantize the observation, the device round trip
(INFER), the golden check, dequantize. Host overhead = step time - env.step - round trip
(targets of issue #5: <= 50 us per step; >= 10k steps/s native, >= 1.5k on qemu-m4).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from qhil.common.envs import make_env
from qhil.common.model_dir import load_model_dir
from qhil.quant.blob import write_blob
from qhil.quant.config import parse_bits
from qhil.quant.golden import GoldenExecutor
from qhil.quant.pipeline import Calibrator, PTQOptions
from qhil.quant.policy import dequantize_action, quantize_obs
from qhil.targets import start_target

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "host_overhead.json"


def measure(target_name: str, steps: int) -> dict[str, float | str]:
    model = load_model_dir(ROOT / "models" / "Pendulum-v1")
    qmodel = Calibrator(model, PTQOptions(calib_episodes=5)).quantize(parse_bits("int8", 3))
    golden = GoldenExecutor(qmodel)
    env = make_env(model.env_id)
    t_env = t_link = 0.0
    with start_target(target_name, timeout=5.0) as target:
        target.device.load(write_blob(qmodel))
        obs, _ = env.reset(seed=0)
        start = time.perf_counter()
        for _ in range(steps):
            x = quantize_obs(qmodel, obs)
            t0 = time.perf_counter()
            codes, _ = target.device.infer(x)
            t1 = time.perf_counter()
            if not np.array_equal(codes, golden.action_codes(x)):
                raise SystemExit("device answer differs from the golden executor")
            action = dequantize_action(qmodel, codes)
            t2 = time.perf_counter()
            obs, _, terminated, truncated, _ = env.step(action)
            t3 = time.perf_counter()
            if terminated or truncated:
                obs, _ = env.reset()
            t_link += t1 - t0
            t_env += t3 - t2
        total = time.perf_counter() - start
    env.close()
    return {"target": target_name, "steps": steps,
            "steps_per_s": round(steps / total, 1),
            "env_step_us": round(1e6 * t_env / steps, 1),
            "round_trip_us": round(1e6 * t_link / steps, 1),
            "host_overhead_us": round(1e6 * (total - t_env - t_link) / steps, 1)}


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
