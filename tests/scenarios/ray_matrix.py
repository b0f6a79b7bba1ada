"""A benchmark matrix on Ray: a half-done matrix resumed as 8 jobs (2 runs x 4) on a local
2-CPU cluster with one worker killed mid-job, against the same matrix run serially here.
Run by tests/test_lab.py inside a network namespace with only loopback. Prints one JSON line."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
QHIL = [sys.executable, "-m", "qhil.cli.main", "-q"]
MATRIX = f"""\
models: [{ROOT / "models" / "Pendulum-v1"}]
variants: [int8]
blobs: [autoquant_weight_bytes1800.qhil]  # [64, 64]: the QAT exports are too wide for the M0
targets: [qemu-m4, qemu-m0]
episodes: 4
ptq: {{calib_episodes: 2}}
"""
RAY = ["--ray", "--ray-cpus", "2", "--jobs", "4"]


def episodes(out: Path) -> dict[str, dict[str, Any]]:
    """Every episode of every run of the matrix: what must not depend on where it ran."""
    found = {}
    for path in sorted(out.glob("*/episodes/*.json")):
        ep = json.loads(path.read_text())
        found[f"{path.parent.parent.name}/{path.stem}"] = {
            k: ep[k] for k in ("ret", "steps", "terminated", "mismatch_count", "model_id")}
    return found


def costs(out: Path) -> dict[str, list[float]]:
    return {f"{p.parent.parent.name}/{p.stem}": json.loads(p.read_text())["cost"]
            for p in sorted(out.glob("*/episodes/*.json"))}


def cost_gap(a: Path, b: Path) -> float:
    """Largest per-step difference of device cost (instructions) between two matrices: the
    emulated counter is read through a timer, whose phase at the start of an inference
    follows the host's timing, so a step may differ by one timer tick (< 1 instruction)."""
    ca, cb = costs(a), costs(b)
    return max(abs(x - y) for k in ca for x, y in zip(ca[k], cb[k], strict=True))


def medians(out: Path) -> dict[str, float]:
    return {f"{path.parent.name}/{v['name']}": v["device_cost"]["median"]
            for path in sorted(out.glob("*/report.json"))
            for v in json.loads(path.read_text())["variants"] if "device_cost" in v}


def incidents(out: Path) -> list[str]:
    return [i["action"] for path in sorted(out.glob("*/report.json"))
            for i in json.loads(path.read_text())["incidents"]]


def kill_a_worker_mid_job(stop: threading.Event, killed: list[int]) -> None:
    """SIGKILL the first Ray worker seen running a job once its job has started a device
    (a child process: QEMU). The job records its start with the run's ledger before it
    starts one, so the kill always lands after that record, however loaded the machine."""
    while not stop.is_set():
        found = subprocess.run(["pgrep", "-f", "ray::_counted_job"], capture_output=True,
                               text=True).stdout.split()
        for pid in found:
            children = subprocess.run(["pgrep", "-P", pid], capture_output=True,
                                      text=True).stdout.split()
            if children:
                os.kill(int(pid), signal.SIGKILL)
                killed.append(int(pid))
                return
        time.sleep(0.02)


def main() -> int:
    work = Path(tempfile.mkdtemp())
    matrix = work / "matrix.yaml"
    matrix.write_text(MATRIX)
    seen: dict[str, Any] = {}
    serial = subprocess.run([*QHIL, "matrix", str(matrix), "-o", str(work / "serial")],
                            capture_output=True, text=True)
    assert serial.returncode == 0, serial.stderr
    # the Ray run resumes a matrix whose runs are half done (as after a stop): its 8 missing
    # episodes are 8 jobs (4 per run), and one of its workers is killed mid-job
    shutil.copytree(work / "serial", work / "ray")
    for path in sorted((work / "ray").glob("*/episodes/*~10000[23].json")):
        path.unlink()
    (work / "ray" / "matrix.md").unlink()
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=kill_a_worker_mid_job, args=(stop, killed))
    killer.start()
    try:
        ray = subprocess.run([*QHIL, "matrix", str(matrix), "-o", str(work / "ray"), *RAY],
                             capture_output=True, text=True)
    finally:
        stop.set()
        killer.join()
    assert ray.returncode == 0, ray.stderr
    jobs = [json.loads(p.read_text()) for p in sorted((work / "ray").glob("*/jobs.json"))]
    seen["jobs"] = sum(len(j) for j in jobs)
    seen["episodes"] = len(episodes(work / "serial"))
    seen["ray_equal"] = episodes(work / "ray") == episodes(work / "serial")
    seen["killed"] = len(killed)
    seen["cost_gap"] = cost_gap(work / "serial", work / "ray")
    seen["medians_gap"] = max(abs(medians(work / "ray")[k] - v)
                              for k, v in medians(work / "serial").items())
    seen["incidents"] = {k: incidents(work / k) for k in ("serial", "ray")}
    seen["summary"] = (work / "ray" / "matrix.md").read_text()
    seen["plot"] = (work / "ray" / "matrix.png").stat().st_size
    print(json.dumps(seen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
