"""Issue 33's width x bits grid: per task, a QAT student of hidden width W (64, 128, 256) and
B-bit weights in every layer (2, 3, 4), A-bit hidden activations (3; 4 for the a4 column),
each trained by one recipe and compared on validation seeds no selection inside it saw.

    .venv/bin/python benchmarks/width_bits.py [--envs Pendulum-v1,...] [--widths 64,128]
        [--weights 3] [--acts 3] [--jobs 2]

One cell = one `qhil qat --model models/ENV --bits 'w=B a=A,A,8 in=auto' --hidden W,W
--finalists 5 --average-last 5 --select-episodes 100 [--rl-steps N]` (the iteration chosen
on validation seeds 10000..10099; with --rl-steps, TD3 on the env's reward after the
distillation, whose exports join the finalists), then that export's return on validation
seeds 10100..10199, which no choice inside the cell saw: the figure cells are compared by.
The export's test return (100000..100099, paired with float) is in its .json: reported,
never used to choose.

Then its instructions per inference on qemu-m4 (weights in RAM) and qemu-m0 (RAM, else
compiled into flash; a model that fits neither is "does not fit", with the firmware's line),
one inference on the first validation seed's first observation (`qhil.api.infer`).

Resumable: a cell whose export, nested.json and costs.json exist is skipped; run again to go
on. Results: benchmarks/results/width_bits/ENV/h{W}_w{B}a{A}.{qhil,json,log,nested.json,
costs.json}. CPU: one cell is one QAT run (5-25 minutes on one core at width 64, about twice
that at 128, 36 at 256) plus a few minutes of evaluation.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    rl_steps: int = 0  # then TD3 on the env's reward, the fake-quant actor in the loop

    @property
    def stem(self) -> Path:
        rl = f"_rl{self.rl_steps}" if self.rl_steps else ""
        return OUT / self.env / f"h{self.width}_w{self.weight_bits}a{self.act_bits}{rl}"

    @property
    def args(self) -> list[str]:
        """What names the cell on the command line of the ``--*-of`` steps."""
        return [self.env, str(self.width), str(self.weight_bits), str(self.act_bits),
                str(self.rl_steps)]

    def qat_command(self) -> list[str]:
        bits = f"w={self.weight_bits} a={self.act_bits},{self.act_bits},8 in=auto"
        return [sys.executable, "-m", "qhil.cli.main", "qat", "--model",
                str(ROOT / "models" / self.env), "--bits", bits,
                "--hidden", f"{self.width},{self.width}", "--finalists", "5",
                "--average-last", "5", "--select-episodes", "100",
                *(["--rl-steps", str(self.rl_steps)] if self.rl_steps else []),
                "-o", str(self.stem.with_suffix(".qhil"))]


def env_reference(folder: str) -> str:
    """The env a task folder under models/ trains on (qhil/QuadrotorHover-v0 for
    QuadrotorHover-v0)."""
    return str(json.loads((ROOT / "models" / folder / "meta.json").read_text())["env_id"])


def on_nested_seeds(policy: Any, folder: str) -> dict[str, object]:
    """``policy`` on the validation seeds no choice inside a cell used."""
    from qhil.common.evaluation import evaluate_policy
    from qhil.common.protocol import SeedRange, Split

    seeds = SeedRange.of(NESTED_START, NESTED_EPISODES)
    r = evaluate_policy(policy, env_reference(folder), seeds, Split.VALIDATION)
    return {"seeds": str(seeds), "mean": r.mean, "std": r.std,
            "ended_early": int(sum(r.terminated))}


def nested_validation(cell: Cell) -> dict[str, object]:
    """The cell's export on the nested validation seeds."""
    from qhil.quant.blob import load_blob
    from qhil.quant.policy import QuantPolicy
    from qhil.quant.qmodel import QuantModel

    _, model = load_blob(cell.stem.with_suffix(".qhil"))
    assert isinstance(model, QuantModel), "a QAT export is an integer model"
    return on_nested_seeds(QuantPolicy(model), cell.env)


def float_validation(env_id: str) -> dict[str, object]:
    """The float teacher on the same validation seeds: what % of float on validation
    is taken against (cached per task)."""
    path = OUT / env_id / "float.nested.json"
    if not path.is_file():
        from qhil.common.model_dir import load_model_dir

        actor = load_model_dir(ROOT / "models" / env_id).actor
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(on_nested_seeds(actor, env_id), indent=1) + "\n")
    return dict(json.loads(path.read_text()))


def device_costs(cell: Cell) -> dict[str, object]:
    """Instructions per inference on each core of the table, or why the export does not run."""
    from qhil.api import infer
    from qhil.common.envs import make_env
    from qhil.common.errors import QhilError
    from qhil.common.protocol import Split, split_seeds
    from qhil.targets.targets import TargetSettings

    env = make_env(env_reference(cell.env))
    obs, _ = env.reset(seed=split_seeds(Split.VALIDATION, 1).start)
    env.close()
    blob = cell.stem.with_suffix(".qhil")
    costs: dict[str, object] = {}
    for core, places in (("qemu-m4", ("ram",)), ("qemu-m0", ("ram", "flash"))):
        errors = []
        for place in places:
            try:
                got = infer(blob, obs, TargetSettings(core, weights_in=place))
            except QhilError as exc:
                errors.append(f"{place}: {exc}")
                continue
            assert got.exact, f"{blob} on {core} is not bit-exact"
            costs[core] = {"instructions": got.cost, "weights_in": place}
            break
        else:
            costs[core] = {"does_not_fit": "; ".join(errors)}
    return costs


def cells_done() -> list[tuple[Cell, dict, dict, dict]]:
    """Every finished cell with its sidecar, nested validation and costs."""
    done = []
    for side in sorted(OUT.glob("*/h*_w*a*.json")):
        m = re.fullmatch(r"h(\d+)_w(\d+)a(\d+)(?:_rl(\d+))?", side.stem)
        if m is None:
            continue
        cell = Cell(side.parent.name, *(int(g or 0) for g in m.groups()))
        nested, costs = cell.stem.with_suffix(".nested.json"), cell.stem.with_suffix(".costs.json")
        if nested.is_file() and costs.is_file():
            done.append((cell, json.loads(side.read_text()), json.loads(nested.read_text()),
                         json.loads(costs.read_text())))
    return done


def plot() -> Path:
    """Return (% of float on test) against weight bytes, one panel per task."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    done = cells_done()
    others = sorted({c.env for c, *_ in done} - set(TASKS))  # e.g. the quadrotor
    envs = [e for e in (*TASKS, *others) if any(c.env == e for c, *_ in done)]
    cols = min(3, len(envs))
    rows = -(-len(envs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.0 * rows), squeeze=False)
    for ax in axes.flat[len(envs):]:
        ax.set_visible(False)
    for ax, env in zip(axes.flat, envs, strict=False):
        for cell, side, _, _ in (d for d in done if d[0].env == env):
            lo, hi = side["comparison"]["interval95"]
            pct = side["percent_of_float"]
            ax.errorbar(side["weight_bytes"], pct, yerr=[[pct - lo], [hi - pct]], fmt="o",
                        color=f"C{cell.weight_bits}", capsize=2)
            ax.annotate(f"{cell.width} w{cell.weight_bits}a{cell.act_bits}"
                        + (" rl" if cell.rl_steps else ""),
                        (side["weight_bytes"], pct), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
        reference = OUT / env / "issue12_qat_w3.json"
        if reference.is_file():  # issue 12's [64, 64] qat_w3: what the cells are measured against
            side = json.loads(reference.read_text())
            ax.plot(side["weight_bytes"], side["percent_of_float"], "x", color="grey")
            ax.annotate("issue 12 w3", (side["weight_bytes"], side["percent_of_float"]),
                        fontsize=7, xytext=(3, -9), textcoords="offset points", color="grey")
        ax.axhline(95, color="grey", lw=0.8, ls="--")
        ax.set_title(env, fontsize=9)
        ax.set_xlabel("weight bytes")
        ax.set_xscale("log")
        # thousands of bytes, labelled at 1, 2, 4, 8 and 20 k only: log-scale labels collide
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda x, _: f"{x / 1e3:g}k"))
        ax.xaxis.set_minor_formatter(ticker.FuncFormatter(
            lambda x, _: f"{x / 1e3:g}k" if f"{x / 1e3:g}" in ("1", "2", "4", "8", "20") else ""))
    for row in axes:
        row[0].set_ylabel("% of float (test, 95 % CI)")
    fig.tight_layout()
    out = OUT / "pareto.png"
    fig.savefig(out, dpi=110)
    return out


def ship(stem: str, name: str, envs: list[str]) -> list[Path]:
    """Copy one family's export and sidecar of every task of ``envs`` to
    models/ENV/NAME.{qhil,json} (the family chosen on validation: docs/evaluation.md);
    refused unless all of them have it."""
    missing = [e for e in envs if not (OUT / e / f"{stem}.nested.json").is_file()]
    if missing:
        raise SystemExit(f"{stem} is not measured on {', '.join(missing)}: nothing shipped")
    written = []
    for env_id in envs:
        for suffix in (".qhil", ".json"):
            dst = ROOT / "models" / env_id / f"{name}{suffix}"
            shutil.copyfile(OUT / env_id / f"{stem}{suffix}", dst)
            written.append(dst)
    return written


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
        steps.append([sys.executable, __file__, "--nested-of", *cell.args])
    if not cell.stem.with_suffix(".costs.json").is_file():
        steps.append([sys.executable, __file__, "--costs-of", *cell.args])
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
    parser.add_argument("--envs", default=",".join(TASKS), help=(
        "task folders under models/ (default: the six of the table; QuadrotorHover-v0 too)"))
    parser.add_argument("--widths", default="64,128,256")
    parser.add_argument("--weights", default="2,3,4", help="weight bits, every layer")
    parser.add_argument("--acts", default="3", help="hidden activation bits (3 and/or 4)")
    parser.add_argument("--rl-steps", default="0", help=(
        "0 (distillation alone) and/or TD3 steps on the env's reward after it, e.g. 0,20000"))
    parser.add_argument("--jobs", type=int, default=2, help="cells at once")
    for step in ("--nested-of", "--costs-of"):
        parser.add_argument(step, nargs=5, metavar=("ENV", "W", "B", "A", "RL"),
                            help=argparse.SUPPRESS)
    parser.add_argument("--float-validation", action="store_true",
                        help="only evaluate the float teachers on the cells' validation seeds")
    parser.add_argument("--ship", nargs=2, metavar=("CELL", "NAME"), help=(
        "copy the cell CELL (e.g. h64_w3a4) of every task to models/ENV/NAME.qhil and .json"))
    parser.add_argument("--plot", action="store_true",
                        help="only draw pareto.png from the cells done")
    args = parser.parse_args()
    if args.plot:
        print(f"wrote {plot()}")
        return
    if args.ship:
        stem, name = args.ship
        for path in ship(stem, name, args.envs.split(",")):
            print(f"wrote {path.relative_to(ROOT)}")
        return
    if args.float_validation:
        for env_id in args.envs.split(","):
            print(env_id, float_validation(env_id)["mean"], flush=True)
        return
    for step, suffix, measure in ((args.nested_of, ".nested.json", nested_validation),
                                  (args.costs_of, ".costs.json", device_costs)):
        if step:
            cell = Cell(step[0], *(int(v) for v in step[1:]))
            cell.stem.with_suffix(suffix).write_text(json.dumps(measure(cell), indent=1) + "\n")
            return
    cells = [Cell(e, int(w), int(b), int(a), int(r)) for e in args.envs.split(",")
             for w in args.widths.split(",") for b in args.weights.split(",")
             for a in args.acts.split(",") for r in args.rl_steps.split(",")]
    with ThreadPoolExecutor(args.jobs) as pool:
        for line in pool.map(run, cells):
            print(line, flush=True)
    print(f"wrote {plot()}")


if __name__ == "__main__":
    main()
