"""``qhil sensitivity``: what quantizing each part of the policy, alone, costs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from tqdm import tqdm

from qhil.cli.options import add_ptq_options, add_width_options, ptq_options
from qhil.common.paths import writable_dir
from qhil.common.settings import episode_count

NAMES = ("sensitivity",)
HELP = "per-layer sensitivity: return and action error when only one part is quantized"
DESCRIPTION = """\
For every part of the policy - each layer's weights (w0, w1, ...), each layer's output
activations (a0, a1, ...; the last is the output/tanh-table precision) and the input
(in) - quantize only that part at each width, keep the rest at 8 bits (inputs 16), and
measure the closed-loop return on validation seeds (10000..) and the action error against
the float policy on the calibration states. Writes sensitivity.json, sensitivity.md and
a heatmap (sensitivity.png). 'qhil autoquant' uses the same profile to choose widths.

example: qhil sensitivity --model models/Hopper-v5 -o reports/hopper-sens
"""


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model folder")
    parser.add_argument("--episodes", type=episode_count, default=5,
                        help="validation episodes per probe (default: %(default)s)")
    add_width_options(parser, "probe")
    parser.add_argument("-o", "--out", default=None, type=writable_dir,
                        help="output folder (default: reports/<env>-sensitivity)")
    add_ptq_options(parser)


def run(args: argparse.Namespace) -> int:
    from qhil.autoquant.sensitivity import SensitivityRow, probes, profile, to_json
    from qhil.common.model_dir import load_model_dir
    from qhil.quant.pipeline import Calibrator
    from qhil.report.plots import sensitivity_heatmap

    model = load_model_dir(args.model)
    probe_list = probes(len(model.actor.weights), args.widths, args.in_widths)
    out = Path(args.out or f"reports/{model.env_id}-sensitivity")
    calibrator = Calibrator(model, ptq_options(args))
    with tqdm(total=len(probe_list), desc="sensitivity", unit="probe") as bar:
        def advance(row: SensitivityRow) -> None:
            bar.set_postfix(part=f"{row.part}@{row.bits}")
            bar.update(1)

        rows = profile(model, calibrator, probe_list, args.episodes, on_row=advance)
    out.mkdir(parents=True, exist_ok=True)
    data = to_json(rows)
    (out / "sensitivity.json").write_text(json.dumps(data, indent=2) + "\n")
    (out / "sensitivity.md").write_text(markdown(data, model.env_id))
    sensitivity_heatmap(data, model.env_id, out / "sensitivity.png")
    print(markdown(data, model.env_id))
    print(f"wrote {out / 'sensitivity.json'}, sensitivity.md, sensitivity.png")
    return 0


def markdown(rows: list[dict[str, Any]], env_id: str) -> str:
    """% of float (action RMSE) per part and width."""
    parts = list(dict.fromkeys(r["part"] for r in rows))
    widths = sorted({r["bits"] for r in rows}, reverse=True)
    cell = {(r["part"], r["bits"]): r for r in rows}
    lines = [f"# Sensitivity: {env_id}", "",
             "% of float return on validation seeds when only that part is quantized "
             "(action RMSE as a fraction of the action range in brackets).", "",
             "| part | " + " | ".join(f"{w} bits" for w in widths) + " |",
             "|---|" + "---|" * len(widths)]
    for part in parts:
        cells = []
        for w in widths:
            r = cell.get((part, w))
            cells.append("" if r is None else
                         f"{r['percent_of_float']:.0f} ({r['action_rmse']:.3f})")
        lines.append(f"| {part} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
