"""Wall time of a benchmark matrix on this machine, serially and on a local Ray cluster, and
a projection for N machines (issue 19's numbers: a wall-time figure, not a return claim).

    .venv/bin/python benchmarks/ray_matrix.py        # writes benchmarks/results/ray_matrix.json

The matrix: the six tasks x {int8, qat_w3} x 20 test episodes on qemu-m4. The projection
for N machines of 2 CPUs: Ray's start plus the sum of the measured job times (each job
whole: inputs, calibration, target start, episodes) spread over 2N CPUs plus Ray's
per-task overhead (a no-op task's round trip, measured here) per job. It assumes jobs
spread evenly and nodes as fast as this one; its 1-machine figure is printed beside the
measured one, which says how far to trust it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "ray_matrix.json"
TASKS = ["Pendulum-v1", "InvertedPendulum-v5", "InvertedDoublePendulum-v5", "Hopper-v5",
         "HalfCheetah-v5", "Walker2d-v5"]


def main() -> int:
    import ray

    from qhil.harness.distribute import RayOptions
    from qhil.harness.matrix import run_matrix
    from qhil.harness.settings import MatrixSettings
    from qhil.targets.firmware import build_firmware

    build_firmware("qemu-m4")
    work = Path(tempfile.mkdtemp())
    matrix = MatrixSettings(models=tuple(str(ROOT / "models" / t) for t in TASKS),
                            variants=("int8",), blobs=("qat_w3.qhil",), targets=("qemu-m4",),
                            episodes=20)
    t0 = time.perf_counter()
    serial, _ = run_matrix(dataclasses.replace(matrix, out=str(work / "serial")))
    serial_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    start_s = time.perf_counter() - t0

    @ray.remote
    def noop() -> None:
        return None

    ray.get(noop.remote())
    overhead = []
    for _ in range(20):
        t1 = time.perf_counter()
        ray.get(noop.remote())
        overhead.append(time.perf_counter() - t1)
    t1 = time.perf_counter()
    distributed, _ = run_matrix(dataclasses.replace(matrix, out=str(work / "ray")),
                                RayOptions())
    ray_s = time.perf_counter() - t1 + start_s
    ray.shutdown()

    same = all(a.data["variants"][i]["return"]["per_episode"] ==
               b.data["variants"][i]["return"]["per_episode"]
               for a, b in zip(serial, distributed, strict=True)
               for i in range(len(a.data["variants"])))
    jobs = [j for r in distributed for j in json.loads((r.out / "jobs.json").read_text()).values()]
    job_s = [j["wall_s"] for j in jobs]
    task_overhead = statistics.median(overhead)
    projected = {n: round(start_s + (sum(job_s) + len(jobs) * task_overhead) / (2 * n), 1)
                 for n in (1, 2, 4, 8)}
    result = {"matrix": "6 tasks x {int8, qat_w3} x 20 episodes, qemu-m4",
              "episodes": sum(len(r.data["variants"]) * 20 for r in serial),
              "serial_s": round(serial_s, 1), "ray_s": round(ray_s, 1),
              "ray_start_s": round(start_s, 1), "task_overhead_ms": round(1e3 * task_overhead, 2),
              "jobs": len(jobs), "job_s_sum": round(sum(job_s), 1),
              "job_s_max": round(max(job_s), 1), "identical_returns": same,
              "projected_s_for_machines_of_2_cpus": projected}
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
