"""Golden executor throughput on a [64,64] policy -> benchmarks/results/golden_speed.json.

    .venv/bin/python benchmarks/golden_speed.py

Single: one observation per call (what the closed loop does). Batched: one call on a
million observations (what sweeps and QAT checks do). Best of 3 runs each.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np

from qhil.quant.config import parse_bits
from qhil.quant.golden import GoldenExecutor
from qhil.quant.random_model import random_input_codes, random_quant_model

OUT = Path(__file__).resolve().parent / "results" / "golden_speed.json"


def best_of(fn, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    rows = []
    for sizes, bits in (([3, 64, 64, 1], "int8"), ([3, 64, 64, 1], "w3a3"),
                        ([17, 64, 64, 6], "int8"), ([17, 64, 64, 6], "w=8,2,8 a=8,2,8 in=12")):
        model = random_quant_model(np.random.default_rng(0), sizes, parse_bits(bits, 3))
        golden = GoldenExecutor(model)
        x = random_input_codes(np.random.default_rng(1), model, 10_000)
        n_single = 20_000
        big = np.tile(x, (100, 1))  # 1,000,000 observations

        def single_calls(g: GoldenExecutor = golden, obs: np.ndarray = x, n: int = n_single) -> None:
            for i in range(n):
                g.action_codes(obs[i % len(obs)])

        def batched_call(g: GoldenExecutor = golden, obs: np.ndarray = big) -> None:
            g.action_codes(obs)

        single = best_of(single_calls)
        batched = best_of(batched_call)
        rows.append({"sizes": sizes, "bits": bits, "single_per_s": round(n_single / single),
                     "batched_per_s": round(len(big) / batched)})
        print(rows[-1], flush=True)
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps({"machine": platform.processor() or platform.machine(),
                               "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
