"""Issue 33's width x bits grid: per task, a QAT student of hidden width W (64, 128, 256) and
B-bit weights in every layer (2, 3, 4), A-bit hidden activations (3; 4 for the a4 column),
each trained by one recipe and compared on validation seeds no selection inside it saw.

    .venv/bin/python benchmarks/width_bits.py [--envs Pendulum-v1,...] [--widths 64,128]
        [--weights 3] [--acts 3] [--jobs 2]

One cell = one `qhil qat --model models/ENV --bits 'w=B a=A,A,8 in=auto' --hidden W,W
--finalists 5 --average-last 5 --select-episodes 100` (the iteration chosen on validation
seeds 10000..10099), then that export's return on validation seeds 10100..10199, which no
choice inside the cell saw: the figure cells are compared by. The export's test return
(100000..100099, paired with float) is in its .json: reported, never used to choose.

Resumable: a cell whose export and nested.json exist is skipped; run again to go on.
Results: benchmarks/results/width_bits/ENV/h{W}_w{B}a{A}.{qhil,json,log,nested.json}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "width_bits"
TASKS = ("Pendulum-v1", "InvertedPendulum-v5", "InvertedDoublePendulum-v5", "Hopper-v5",
         "HalfCheetah-v5", "Walker2d-v5")
NESTED_START, NESTED_EPISODES = 10100, 100


@dataclass(frozen=True)
class Cell:
    env: str
    width: int
    weight_bits: int
    act_bits: int

    @property
    def stem(self) -> Path:
        return OUT / self.env / f"h{self.width}_w{self.weight_bits}a{self.act_bits}"

    def qat_command(self) -> list[str]:
        bits = f"w={self.weight_bits} a={self.act_bits},{self.act_bits},8 in=auto"
        return [sys.executable, "-m", "qhil.cli.main", "qat", "--model",
                str(ROOT / "models" / self.env), "--bits", bits,
                "--hidden", f"{self.width},{self.width}", "--finalists", "5",
                "--average-last", "5", "--select-episodes", "100",
                "-o", str(self.stem.with_suffix(".qhil"))]


def nested_validation(cell: Cell) -> dict[str, object]:
    """The export's return on validation seeds no choice inside the cell used."""
    from qhil.common.evaluation import evaluate_policy
    from qhil.common.protocol import SeedRange, Split
    from qhil.quant.blob import load_blob
    from qhil.quant.policy import QuantPolicy
    from qhil.quant.qmodel import QuantModel

    _, model = load_blob(cell.stem.with_suffix(".qhil"))
    assert isinstance(model, QuantModel), "a QAT export is an integer model"
    seeds = SeedRange.of(NESTED_START, NESTED_EPISODES)
    r = evaluate_policy(QuantPolicy(model), cell.env, seeds, Split.VALIDATION)
    return {"seeds": str(seeds), "mean": r.mean, "std": r.std,
            "ended_early": int(sum(r.terminated))}


def run(cell: Cell) -> str:
    cell.stem.parent.mkdir(parents=True, exist_ok=True)
    blob, nested = cell.stem.with_suffix(".qhil"), cell.stem.with_suffix(".nested.json")
    start = time.monotonic()
    # one thread each: the jobs share the machine's cores
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    steps = []
    if not blob.is_file():
        steps.append(cell.qat_command())
    if not nested.is_file():
        steps.append([sys.executable, __file__, "--nested-of", cell.env, str(cell.width),
                      str(cell.weight_bits), str(cell.act_bits)])
    with cell.stem.with_suffix(".log").open("a") as log:
        for cmd in steps:
            proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
            if proc.returncode != 0:
                return f"{cell.env} {cell.stem.name}: exit {proc.returncode} (see its .log)"
    got = json.loads(nested.read_text())
    return (f"{cell.env} {cell.stem.name}: validation {got['mean']:.1f} on {got['seeds']} "
            f"({time.monotonic() - start:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", default=",".join(TASKS))
    parser.add_argument("--widths", default="64,128,256")
    parser.add_argument("--weights", default="2,3,4", help="weight bits, every layer")
    parser.add_argument("--acts", default="3", help="hidden activation bits (3 and/or 4)")
    parser.add_argument("--jobs", type=int, default=2, help="cells at once")
    parser.add_argument("--nested-of", nargs=4, metavar=("ENV", "W", "B", "A"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.nested_of:
        env_id, w, b, a = args.nested_of
        cell = Cell(env_id, int(w), int(b), int(a))
        cell.stem.with_suffix(".nested.json").write_text(
            json.dumps(nested_validation(cell), indent=1) + "\n")
        return
    cells = [Cell(e, int(w), int(b), int(a)) for e in args.envs.split(",")
             for w in args.widths.split(",") for b in args.weights.split(",")
             for a in args.acts.split(",")]
    with ThreadPoolExecutor(args.jobs) as pool:
        for line in pool.map(run, cells):
            print(line, flush=True)


if __name__ == "__main__":
    main()
