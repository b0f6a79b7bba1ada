"""The paper's table on MCU-class targets, as resumable jobs (docs/evaluation.md protocol).

    .venv/bin/python benchmarks/paper_table.py run [--tasks T,T] [--cells C,C] [--episodes N]
    .venv/bin/python benchmarks/paper_table.py status
    .venv/bin/python benchmarks/paper_table.py table        # Markdown, as in BENCHMARKS.md

Every cell is a job of one or more qhil commands. Its result goes to
``benchmarks/results/paper/<task>/<cell>.json`` through a temporary file and a rename, with
the commands, seeds, package versions and wall time. ``run`` skips cells whose file exists,
so a killed, rebooted or interrupted run loses at most the cell in progress; run it again
to go on. Cells, cheapest first (the QAT ones take 5-15 min each on 2 cores):

- ``float``: the float actor, 100 test episodes;
- ``ptq_w8`` ... ``ptq_w2``: post-training quantization at uniform widths, paired with float;
- ``noise_0.05``, ``noise_0.1``: float and ``qat_w3`` under observation noise
  (std x each feature's std, the draws of ``qhil bench --noise``);
- ``device_qemu-m4``, ``device_qemu-m0``: ``qat_w3`` closed loop on the emulated core, one
  test episode: instructions per action, estimated cycles (``qhil bench --cycles``) and
  bit-exact steps;
- ``qat_w3``, ``qat_w2``: the shipped exports of the QAT recipe (their sidecars);
- ``qat_w4``: the recipe at 4 bits;
- ``in4`` ... ``in16``: the recipe at 3-bit weights with the input width fixed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "paper"
QHIL = [sys.executable, "-m", "qhil.cli.main", "-q"]
TASKS = ["Pendulum-v1", "InvertedPendulum-v5", "InvertedDoublePendulum-v5", "Hopper-v5",
         "HalfCheetah-v5", "Walker2d-v5"]
PTQ_WIDTHS = (8, 4, 3, 2)
NOISE = (0.05, 0.1)
INPUT_WIDTHS = (4, 6, 8, 12, 16)
#: Whole-number floor of "competitive with float" and of "collapsed", in % of float.
COMPETITIVE, COLLAPSED = 95.0, 50.0


@dataclass(frozen=True)
class Cell:
    """One job: commands run in a scratch folder, then ``parse`` reads what they wrote."""

    name: str
    commands: Callable[[str, Path, int], list[list[str]]]
    parse: Callable[[Path], dict[str, Any]]
    #: The bench's refusal before it starts (exit 2, "variant ... cannot run on TARGET: why")
    #: is the result: an export wider than 64 does not fit the M0.
    may_not_fit: bool = False


def _model(task: str) -> str:
    return str(ROOT / "models" / task)


def _eval(task: str, scratch: Path, episodes: int, blob: str | None = None,
          noise: float = 0.0) -> list[str]:
    cmd = [*QHIL, "eval", "--model", _model(task), "--episodes", str(episodes),
           "--json", str(scratch / "eval.json")]
    if blob:
        cmd += ["--blob", blob]
    if noise:
        cmd += ["--obs-noise", str(noise)]
    return cmd


def _read_eval(scratch: Path) -> dict[str, Any]:
    return json.loads((scratch / "eval.json").read_text())


def _ptq(bits: int) -> Cell:
    def commands(task: str, scratch: Path, episodes: int) -> list[list[str]]:
        blob = str(scratch / "ptq.qhil")
        return [[*QHIL, "quantize", "--model", _model(task), "--bits", f"w{bits}a{bits}",
                 "-o", blob], _eval(task, scratch, episodes, blob)]

    def parse(scratch: Path) -> dict[str, Any]:
        from qhil.quant.blob import read_blob

        result = _read_eval(scratch)
        result["weight_bytes"] = read_blob((scratch / "ptq.qhil").read_bytes()).weight_bytes  # type: ignore[union-attr]
        return result

    return Cell(f"ptq_w{bits}", commands, parse)


def _noise(level: float) -> Cell:
    def commands(task: str, scratch: Path, episodes: int) -> list[list[str]]:
        return [_eval(task, scratch, episodes, str(ROOT / "models" / task / "qat_w3.qhil"),
                      level)]

    return Cell(f"noise_{level}", commands, _read_eval)


def _device(target: str) -> Cell:
    def commands(task: str, scratch: Path, episodes: int) -> list[list[str]]:
        return [[*QHIL, "bench", "--model", _model(task), "--target", target, "--variants", "",
                 "--blob", str(ROOT / "models" / task / "qat_w3.qhil"), "--episodes", "1",
                 "--cycles", "-o", str(scratch / "bench")]]

    def parse(scratch: Path) -> dict[str, Any]:
        report = json.loads((scratch / "bench" / "report.json").read_text())
        (v,) = report["variants"]
        return {"target": report["target"]["name"], "cost_unit": report["target"]["cost_unit"],
                "cost_per_action": v["device_cost"]["median"],
                "per_mac": v["device_cost"]["per_mac"], "steps": v["steps"],
                "bit_exact": v["bit_exact"], "weight_bytes": v["sizes"]["weight_bytes"],
                "arena_bytes": v["sizes"].get("arena_bytes"), "seeds": report["seeds"],
                "estimated": v["device_cost"].get("estimated")}

    return Cell(f"device_{target}", commands, parse, may_not_fit=True)


def _shipped(name: str) -> Cell:
    """A shipped export of the recipe (benchmarks/qat_recipe.sh): its sidecar is the result."""
    def commands(task: str, scratch: Path, episodes: int) -> list[list[str]]:
        return [["cp", str(ROOT / "models" / task / f"{name}.json"), str(scratch / "side.json")]]

    def parse(scratch: Path) -> dict[str, Any]:
        side = json.loads((scratch / "side.json").read_text())
        return {"bits": side["bits"], "test": side["test"], "float": side["float_test"],
                "comparison": side["comparison"], "weight_bytes": side["weight_bytes"],
                "recipe": "benchmarks/qat_recipe.sh", "wall_time_s": side["wall_time_s"]}

    return Cell(name, commands, parse)


def _qat(name: str, bits: str) -> Cell:
    def commands(task: str, scratch: Path, episodes: int) -> list[list[str]]:
        return [[*QHIL, "qat", "--model", _model(task), "--bits", bits, "--test-episodes",
                 str(episodes), "-o", str(scratch / "qat.qhil")]]

    def parse(scratch: Path) -> dict[str, Any]:
        side = json.loads((scratch / "qat.json").read_text())
        return {"bits": side["bits"], "test": side["test"], "float": side["float_test"],
                "comparison": side["comparison"], "weight_bytes": side["weight_bytes"],
                "wall_time_s": side["wall_time_s"]}

    return Cell(name, commands, parse)


CELLS: dict[str, Cell] = {c.name: c for c in (
    Cell("float", lambda t, s, n: [_eval(t, s, n)], _read_eval),
    *(_ptq(b) for b in PTQ_WIDTHS),
    *(_noise(x) for x in NOISE),
    _device("qemu-m4"), _device("qemu-m0"),
    _shipped("qat_w3"), _shipped("qat_w2"),
    _qat("qat_w4", "w=4 a=4,4,8 in=auto"),
    *(_qat(f"in{w}", f"w=3 a=3,3,8 in={w}") for w in INPUT_WIDTHS),
)}


def cell_path(results: Path, task: str, cell: str) -> Path:
    return results / task / f"{cell}.json"


def run_cell(results: Path, task: str, cell: Cell, episodes: int) -> dict[str, Any]:
    """Run one cell and write its result atomically (temporary file, then rename)."""
    from qhil.common.provenance import package_versions

    out = cell_path(results, task, cell.name)
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f".{cell.name}-", dir=out.parent) as tmp:
        scratch = Path(tmp)
        commands = cell.commands(task, scratch, episodes)
        refused = None
        for cmd in commands:
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            if (proc.returncode == 2 and cell.may_not_fit
                    and "cannot run on" in proc.stderr):
                refused = proc.stderr.strip().splitlines()[-1]
                break
            if proc.returncode != 0:
                raise RuntimeError(f"{task} {cell.name}: {' '.join(cmd)} failed:\n"
                                   + (proc.stderr or proc.stdout)[-2000:])
        parsed = {"does_not_fit": refused} if refused else cell.parse(scratch)
        result = {"task": task, "cell": cell.name, "episodes": episodes,
                  "commands": [" ".join(c) for c in commands], "result": parsed,
                  "wall_time_s": round(time.perf_counter() - start, 1),
                  "versions": package_versions()}
        part = out.with_suffix(".json.part")
        part.write_text(json.dumps(result, indent=1) + "\n")
        os.replace(part, out)
    return result


def run(results: Path, tasks: list[str], cells: list[str], episodes: int) -> None:
    for stale in results.glob("*/.*-*"):  # scratch of a cell killed mid-way: nothing to keep
        shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink()
    for task in tasks:
        for name in cells:
            if cell_path(results, task, name).exists():
                print(f"{task:26s} {name:16s} done before, skipped", flush=True)
                continue
            print(f"{task:26s} {name:16s} running ...", flush=True)
            result = run_cell(results, task, CELLS[name], episodes)
            print(f"{task:26s} {name:16s} {result['wall_time_s']:.0f} s", flush=True)


# --------------------------------------------------------------------------------------
# The table and the claims
# --------------------------------------------------------------------------------------
def load(results: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """task -> cell -> result (finished cells only)."""
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for task in TASKS:
        for name in CELLS:
            path = cell_path(results, task, name)
            if path.exists():
                table.setdefault(task, {})[name] = json.loads(path.read_text())["result"]
    return table


def percent(result: dict[str, Any] | None) -> float | None:
    if result is None or "comparison" not in result:
        return None
    return float(result["comparison"]["percent_of_float"])


def _pct_cell(result: dict[str, Any] | None) -> str:
    if result is None or "comparison" not in result:
        return "…"
    c = result["comparison"]
    lo, hi = c["interval95"]
    early, float_early = c["early_terminations"], c["float_early_terminations"]
    return (f"{c['percent_of_float']:.1f} ({lo:.1f}-{hi:.1f})" +
            (f", early {early}/{float_early}" if early or float_early else ""))


def _noise_cell(clean_float: dict[str, Any] | None, result: dict[str, Any] | None) -> str:
    """Float and quantized under noise, each as % of the clean float return."""
    from qhil.common.evaluation import percent_of_float

    if result is None or clean_float is None:
        return "…"
    ref = clean_float["float"]["mean"]
    return (f"{percent_of_float(result['float']['mean'], ref):.1f} / "
            f"{percent_of_float(result['golden']['mean'], ref):.1f}")


def markdown(table: dict[str, dict[str, dict[str, Any]]]) -> str:
    tasks = [t for t in TASKS if t in table]
    lines = ["Return as % of float (95 % interval; early terminations quantized/float when "
             "any; … = cell not run yet):", "",
             "| task | float return | PTQ w8 | PTQ w4 | PTQ w3 | PTQ w2 | QAT w4 | QAT w3 | QAT w2 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for t in tasks:
        c = table[t]
        fl = c.get("float")
        lines.append(f"| {t} | " + (f"{fl['float']['mean']:.1f}" if fl else "…") + " | " +
                     " | ".join(_pct_cell(c.get(n)) for n in
                                ("ptq_w8", "ptq_w4", "ptq_w3", "ptq_w2", "qat_w4", "qat_w3",
                                 "qat_w2")) + " |")
    lines += ["", "QAT w3 and QAT w2 are the shipped exports (docs/evaluation.md: `qat_w3` "
              "and `qat_w2` [256, 256], with the finalists rule); QAT w4 and "
              "the input widths below are issue 12's recipe ([64, 64], the best of 60 "
              "iterations on 20 validation episodes) at those bits.", "",
              "Input width at 3-bit weights (issue 12's recipe with `in` fixed), and observation "
              "noise (float / `qat_w3`, each as % of the clean float return):", "",
              "| task | " + " | ".join(f"in {w}" for w in INPUT_WIDTHS) + " | " +
              " | ".join(f"noise {x}" for x in NOISE) + " |",
              "|---|" + "---|" * (len(INPUT_WIDTHS) + len(NOISE))]
    for t in tasks:
        c = table[t]
        lines.append(f"| {t} | " + " | ".join(_pct_cell(c.get(f"in{w}")) for w in INPUT_WIDTHS)
                     + " | " + " | ".join(_noise_cell(c.get("float"), c.get(f"noise_{x}"))
                                          for x in NOISE) + " |")
    lines += ["", "`qat_w3` on the device (one test episode, every answer checked; estimated "
              "cycles: one inference traced by QEMU and weighted by the core's TRM timings at "
              "the board profile's clock, an estimate, see \"Estimated cycles\" below):", "",
              "| task | weight B | qemu-m4 instructions / action | qemu-m4 est. cycles (µs) "
              "| qemu-m0 instructions / action | qemu-m0 est. cycles (µs) | bit-exact steps |",
              "|---|---|---|---|---|---|---|"]
    for t in tasks:
        c = table[t]
        m4, m0 = c.get("device_qemu-m4"), c.get("device_qemu-m0")
        w3 = c.get("qat_w3")
        exact = [d for d in (m4, m0) if d and "bit_exact" in d]
        checked = sum(d["bit_exact"]["checked_steps"] for d in exact)
        bad = sum(d["bit_exact"]["mismatches"] for d in exact)
        cells = []
        for d in (m4, m0):
            if d and "does_not_fit" in d:
                cells += ["does not fit", "…"]
                continue
            cells.append(format(d["cost_per_action"], ",.0f") if d else "…")
            cells.append(_cycles_cell(d))
        lines.append(f"| {t} | {w3['weight_bytes'] if w3 else '…'} | " + " | ".join(cells)
                     + " | " + (f"{checked - bad} of {checked}" if exact else "…") + " |")
    # the CLI's own prefix says nothing in a table
    refusals = sorted({f"{t}: {d['does_not_fit'].removeprefix('qhil: error: ')}"
                       for t in tasks for k in ("device_qemu-m4", "device_qemu-m0")
                       if (d := table[t].get(k)) and "does_not_fit" in d})
    if refusals:
        lines += ["", "Does not fit (the bench's refusal before anything was sent):", ""]
        lines += [f"- {r}" for r in refusals]
    lines += ["", "The paper's claims on these tasks:", ""]
    lines += [f"- {claim}" for claim in claims(table)]
    return "\n".join(lines) + "\n"


def _cycles_cell(device: dict[str, Any] | None) -> str:
    estimate = (device or {}).get("estimated")
    if not estimate:
        return "…"
    us = f" ({estimate['us']:,.0f})" if estimate.get("us") is not None else ""
    return f"~{estimate['cycles']:,}{us}"


def _verdict(held: int, of: int) -> str:
    if of == 0:
        return "not measured yet"
    return "held" if held == of else "not held" if held == 0 else "held with caveats"


def claims(table: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """Each claim of the paper, judged on the finished cells (the rule is in the text)."""
    out = []
    w8 = {t: percent(c.get("ptq_w8")) for t, c in table.items()}
    low = {t: [p for n in ("ptq_w4", "ptq_w3", "ptq_w2") if (p := percent(c.get(n))) is not None]
           for t, c in table.items()}
    judged = [t for t in table if w8[t] is not None and low[t]]
    ok = [t for t in judged if w8[t] >= COMPETITIVE and min(low[t]) < COLLAPSED]  # type: ignore[operator]
    out.append(f"PTQ holds at 8 bits (>= {COMPETITIVE:.0f} %) and collapses at 2-4 bits "
               f"(some width < {COLLAPSED:.0f} %): **{_verdict(len(ok), len(judged))}** "
               f"({len(ok)} of {len(judged)} tasks" +
               (f"; not on {', '.join(sorted(set(judged) - set(ok)))}" if set(judged) - set(ok)
                else "") + ").")
    qat = {t: [percent(c.get("qat_w3")), percent(c.get("qat_w2"))] for t, c in table.items()}
    judged = [t for t in table if None not in qat[t]]
    ok = [t for t in judged if max(p for p in qat[t] if p is not None) >= COMPETITIVE]
    out.append(f"QAT recovers 2-3-bit policies competitive with float (`qat_w3` or `qat_w2` "
               f">= {COMPETITIVE:.0f} %): **{_verdict(len(ok), len(judged))}** ({len(ok)} of "
               f"{len(judged)} tasks).")
    spreads = {t: [p for w in INPUT_WIDTHS if (p := percent(c.get(f'in{w}'))) is not None]
               for t, c in table.items()}
    judged = [t for t in table if len(spreads[t]) == len(INPUT_WIDTHS)]
    ok = [t for t in judged if max(spreads[t]) - min(spreads[t]) >= 10]
    out.append("Input precision must be chosen with care (the input widths at 3-bit weights "
               f"span >= 10 points): **{_verdict(len(ok), len(judged))}** ({len(ok)} of "
               f"{len(judged)} tasks).")
    judged, ok = [], []
    for t, c in table.items():
        runs = [c.get(f"noise_{x}") for x in NOISE]
        if all(runs):
            judged.append(t)
            if all(r["golden"]["mean"] >= r["float"]["mean"] for r in runs):  # type: ignore[index]
                ok.append(t)
    out.append("Quantized policies can be more robust to observation noise (`qat_w3` returns "
               "at least the float policy's at every noise level): "
               f"**{_verdict(len(ok), len(judged))}** ({len(ok)} of {len(judged)} tasks).")
    return out


def status(results: Path) -> None:
    for task in TASKS:
        done = [n for n in CELLS if cell_path(results, task, n).exists()]
        pending = [n for n in CELLS if n not in done]
        print(f"{task:26s} {len(done):2d}/{len(CELLS)} done" +
              (f"; pending: {', '.join(pending)}" if pending else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["run", "status", "table"])
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated env ids")
    parser.add_argument("--cells", default=",".join(CELLS),
                        help=f"comma-separated cells (default: all: {', '.join(CELLS)})")
    parser.add_argument("--episodes", type=int, default=100,
                        help="test episodes per cell (default: 100, the protocol's)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args(argv)
    tasks = [t for t in args.tasks.split(",") if t]
    cells = [c for c in args.cells.split(",") if c]
    unknown = [c for c in cells if c not in CELLS] + [t for t in tasks if t not in TASKS]
    if unknown:
        print(f"paper_table: unknown task or cell: {', '.join(unknown)}", file=sys.stderr)
        return 2
    if args.action == "run":
        run(args.results, tasks, cells, args.episodes)
    elif args.action == "status":
        status(args.results)
    else:
        print(markdown(load(args.results)), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
