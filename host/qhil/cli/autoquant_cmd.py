"""``qhil autoquant``: choose per-layer widths under a budget, train them, verify them."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

from tqdm import tqdm

from qhil.cli.options import add_ptq_options, ptq_options
from qhil.cli.sensitivity_cmd import markdown
from qhil.cli.settings_options import add_settings, settings_from
from qhil.common.paths import writable_dir

NAMES = ("autoquant",)
HELP = "choose per-layer bit widths under a budget from measured sensitivity, QAT, verify"
DESCRIPTION = """\
1. profile the sensitivity of every part (see 'qhil sensitivity');
2. search widths under the budget: from 8 bits everywhere, lower one part one step at a
   time, always the step with the least predicted loss of return per unit of budget saved,
   until the budget is met; the answer and its best neighbours are the candidates;
3. QAT (DAgger distillation) of each candidate; the choice is made on validation seeds;
4. with --target: one closed-loop episode of each on the device, every action checked
   bit-exactly against the golden executor, and its on-device cost;
5. write the Pareto front (weight bytes, energy, device cost vs return) and install the
   chosen blob as models/<env>/autoquant_<budget>.qhil (+ .json).

Budgets: weight_bytes=N (packed weights), energy=PJ (op-level pJ per inference, Horowitz
45 nm), cycles=N (measured on --target: instructions under QEMU, cycles on boards).
Every step is saved in the work folder (-o); run the same command again to resume.

example: qhil autoquant --model models/Pendulum-v1 --budget weight_bytes=1000 --target qemu-m4
"""


def add_args(parser: argparse.ArgumentParser) -> None:
    from qhil.autoquant.settings import AutoquantArgs

    parser.add_argument("--model", required=True, help="model folder")
    add_settings(parser, AutoquantArgs)
    parser.add_argument("--no-install", action="store_true",
                        help="leave models/<env>/ untouched (the result stays in -o)")
    parser.add_argument("-o", "--out", default=None, type=writable_dir,
                        help="work folder, resumable (default: runs/autoquant/<env>-<budget>)")
    add_ptq_options(parser)


def run(args: argparse.Namespace) -> int:
    from qhil.autoquant.pipeline import autoquant
    from qhil.autoquant.settings import AutoquantArgs
    from qhil.common.model_dir import load_model_dir
    from qhil.quant.pipeline import Calibrator
    from qhil.report.plots import pareto_plot, sensitivity_heatmap

    model = load_model_dir(args.model)
    aq = settings_from(AutoquantArgs, args)
    budget = aq.budget
    tag = f"{budget.metric}{budget.limit:g}"
    work = Path(args.out or f"runs/autoquant/{model.env_id}-{tag}")
    bars: dict[str, tqdm] = {}

    def progress(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=stage, unit="step")
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        summary = autoquant(model, aq, work, Calibrator(model, ptq_options(args)), progress)
    finally:
        for bar in bars.values():
            bar.close()
    sensitivity_heatmap(summary["sensitivity"], model.env_id, work / "sensitivity.png")
    pareto_plot(summary["points"], summary["pareto"], f"{model.env_id}, {budget}",
                work / "pareto.png")
    text = _markdown(summary) + "\n" + markdown(summary["sensitivity"], model.env_id)
    (work / "summary.md").write_text(text)
    print(text)
    chosen = work / f"candidate{summary['chosen']}.qhil"
    if not args.no_install:
        dest = model.path / f"autoquant_{tag}.qhil"
        shutil.copy(chosen, dest)
        meta = json.loads(chosen.with_suffix(".json").read_text())
        meta.update(method="autoquant", budget=str(budget), search=summary["search_path"],
                    candidates=summary["candidates"], pareto=summary["pareto"])
        dest.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
        print(f"installed {dest}")
    print(f"work folder: {work} (autoquant.json, summary.md, pareto.png, sensitivity.png)")
    return 0


def _markdown(s: dict[str, Any]) -> str:
    lines = [f"# autoquant: {s['env_id']}, budget {s['budget']}", "",
             f"Float test return {s['float_test_return']:.1f}; search "
             f"{' -> '.join(p['bits'] for p in s['search_path'][-3:])}; "
             f"{s['wall_time_s']:.0f} s.", "",
             "| candidate | bits | weight B | energy pJ | in budget | predicted loss % | "
             "validation | test | % of float | device |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for i, c in enumerate(s["candidates"]):
        dev = c["device"]
        dev_txt = (f"{dev['cost_median']:.0f} {dev['unit']}, "
                   f"{'bit-exact' if dev['mismatches'] == 0 else 'MISMATCH'}") if dev else "-"
        mark = " (chosen)" if i == s["chosen"] else ""
        lines.append(f"| {i}{mark} | {c['bits']} | {c['weight_bytes']:.0f} | "
                     f"{c['energy_pj']:.0f} | {'yes' if c['within_budget'] else 'no'} | "
                     f"{c['predicted_loss']:.1f} | {c['validation_return']:.1f} | "
                     f"{c['test_return']:.1f} | {c['percent_of_float']:.1f} | {dev_txt} |")
    lines += ["", f"Pareto front (weight bytes, energy, return): {', '.join(s['pareto'])}."]
    return "\n".join(lines) + "\n"
