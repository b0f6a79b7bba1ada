"""The clock table of BENCHMARKS.md (issue 30): per task, core and variant, the lowest clock
that keeps 95 % of the zero-latency float return with no deadline miss, with the device's
latency in the loop.

    .venv/bin/python benchmarks/clock_table.py [--envs HalfCheetah-v5] [--cores qemu-m4]
        [--jobs 2]

Tasks: the three MuJoCo locomotion tasks on qemu-m0, qemu-m4 and qemu-m55 (50 ms or 8 ms
control periods), and the quadrotor (issue 31, 2 ms) on qemu-m0, qemu-stm32f4 with the
Crazyflie's board profile (crazyflie21) and qemu-m55.

Each (task, core) is one `qhil bench --clock-sweep` (qhil.harness.clock_sweep) into
benchmarks/results/clock/<env>-<core>/ (`--search-only`: with `--sweep-no-device`, the
decision on validation without the device runs), resumable: run the command again and it
goes on where it stopped. The search's cells (variant, delay) are shared by the cores of a
task (benchmarks/results/clock/<env>-cache/) and committed, as is each finished device run's
report.json (its episodes stay local): in a fresh clone only what is missing runs. qemu-m0
runs every model compiled into flash (its 9 KB RAM arena does not hold the float32 model). A
shipped export the core cannot run (e.g. a [256, 256] layer on qemu-m0) is left out of that
core's sweep, the firmware's refusal kept in <env>-<core>/refused.json: the table says "does
not fit".
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "clock"
SEARCH_EPISODES = 20
TEST_EPISODES = 100


@dataclass(frozen=True)
class Task:
    model: str  # folder under models/
    substeps: int  # --physics-substeps: 0.1 ms physics steps
    cores: tuple[str, ...]
    clocks: str
    profiles: tuple[tuple[str, str], ...] = ()  # (core, --board-profile)


LOCOMOTION = ("qemu-m0", "qemu-m4", "qemu-m55")
TASKS = {t.model: t for t in [
    Task("HalfCheetah-v5", 100, LOCOMOTION, "8M,16M,24M,48M,84M,168M"),
    Task("Hopper-v5", 20, LOCOMOTION, "8M,16M,24M,48M,84M,168M"),
    Task("Walker2d-v5", 20, LOCOMOTION, "8M,16M,24M,48M,84M,168M"),
    Task("QuadrotorHover-v0", 5, ("qemu-m0", "qemu-stm32f4", "qemu-m55"),
         "2M,4M,8M,16M,24M,48M,84M,168M", (("qemu-stm32f4", "crazyflie21"),)),
]}
ENVS = [t for t in TASKS if t != "QuadrotorHover-v0"]  # the default run: issue 30's table


def command(env: str, core: str, search_only: bool = False,
            refused: frozenset[str] = frozenset()) -> list[str]:
    task = TASKS[env]
    model = ROOT / "models" / env
    blobs = [arg for name in ("qat_w3", "qat_w2") if name not in refused
             for arg in ("--blob", str(model / f"{name}.qhil"))]
    cmd = [sys.executable, "-m", "qhil.cli.main", "bench", "--model", str(model), "--target",
           core, "--variants", "device-f32,int8", *blobs, "--clock-sweep", task.clocks,
           "--sweep-episodes", str(SEARCH_EPISODES), "--episodes", str(TEST_EPISODES),
           "--timing", "device", "--physics-substeps", str(task.substeps),
           "--sweep-workers", "1", "--sweep-cache", str(OUT / f"{env}-cache"),
           "-o", str(OUT / f"{env}-{core}")]
    if core == "qemu-m0":
        cmd += ["--weights-in", "flash"]
    if search_only:
        cmd += ["--sweep-no-device"]
    profile = dict(task.profiles).get(core)
    if profile:
        cmd += ["--board-profile", profile]
    return cmd


REFUSAL = re.compile(r"variant '(qat_w[23])' cannot run on [^:]+: (.*)")


def run(env: str, core: str, search_only: bool) -> int:
    log = OUT / f"{env}-{core}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    refused_path = OUT / f"{env}-{core}" / "refused.json"
    refused: dict[str, str] = (json.loads(refused_path.read_text()) if refused_path.is_file()
                               else {})
    while True:
        start = log.stat().st_size if log.is_file() else 0
        with log.open("a") as f:
            proc = subprocess.run(command(env, core, search_only, frozenset(refused)),
                                  stdout=f, stderr=subprocess.STDOUT)
        # exit 2 with the bench's one line: an export this core cannot hold; sweep the rest
        found = REFUSAL.search(log.read_text()[start:]) if proc.returncode == 2 else None
        if found is None or found.group(1) in refused:
            break
        refused[found.group(1)] = found.group(2)
        refused_path.parent.mkdir(parents=True, exist_ok=True)
        refused_path.write_text(json.dumps(refused, indent=1) + "\n")
    print(f"{env} on {core}: exit {proc.returncode} (log {log.relative_to(ROOT)})", flush=True)
    return proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", default=",".join(ENVS), help=f"of {', '.join(TASKS)}")
    parser.add_argument("--cores", default="", help="default: each task's own")
    parser.add_argument("--jobs", type=int, default=2, help="sweeps at once")
    parser.add_argument("--search-only", action="store_true",
                        help="decide on validation and stop before the device runs "
                             "(run again without it to add them)")
    args = parser.parse_args()
    jobs = [(e, c) for e in args.envs.split(",")
            for c in (args.cores.split(",") if args.cores else TASKS[e].cores)]
    with ThreadPoolExecutor(args.jobs) as pool:
        codes = list(pool.map(lambda j: run(j[0], j[1], args.search_only), jobs))
    done = {f"{e}-{c}": json.loads((OUT / f"{e}-{c}" / "sweep.json").read_text())["decision"]
            for e, c in jobs if (OUT / f"{e}-{c}" / "sweep.json").is_file()}
    print(json.dumps(done, indent=2))
    sys.exit(max(codes))


if __name__ == "__main__":
    main()
