"""``qhil sweep-bits``: the PTQ table -- return at each bit setting vs float."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from tqdm import tqdm

from qhil.cli.options import add_ptq_options, ptq_options
from qhil.common.paths import writable_file
from qhil.common.protocol import seed_range_text
from qhil.common.settings import episode_count

NAMES = ("sweep-bits",)
HELP = "post-training quantize at many bit settings and tabulate return vs float"
DESCRIPTION = """\
Quantize one float model at each setting (post-training, one calibration for all),
evaluate every setting with the golden integer executor on the same seeds as the
float policy (the test split, 100000.., unless --seeds), and print: setting, return mean
+- std, % of float with its 95% paired bootstrap interval, episodes that ended early,
weight and blob bytes.

% of float is q/f for positive returns and f/q for negative ones (Pendulum): 100 is
parity, lower is worse (docs/evaluation.md).

example: qhil sweep-bits --model models/Pendulum-v1 --json sweep.json --plot sweep.png
"""

LOG = logging.getLogger(__name__)

DEFAULT_SETTINGS = (
    "int8", "w6a8", "w4a8", "w3a8", "w2a8", "w6a6", "w4a4", "w3a3", "w2a2",
    "w=8,4,8 a=8,4,8", "w=8,3,8 a=8,3,8", "w=8,2,8 a=8,2,8", "w3a3i12",
)


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model folder")
    parser.add_argument("--settings", default=";".join(DEFAULT_SETTINGS),
                        help="';'-separated bit settings (default: uniform 8..2 bits, "
                             "weight-only, and first/last-layer-8 mixes)")
    parser.add_argument("--episodes", type=episode_count, default=100,
                        help="episodes per setting on the test split (default: %(default)s)")
    parser.add_argument("--seeds", default=None, metavar="A..B", type=seed_range_text,
                        help="evaluate on this seed range instead (both ends included)")
    parser.add_argument("--json", dest="json_out", default=None, type=writable_file,
                        help="write rows as JSON")
    parser.add_argument("--plot", default=None, type=writable_file,
                        help="write a PNG of return per setting")
    add_ptq_options(parser)


def run(args: argparse.Namespace) -> int:
    from qhil.common.evaluation import compare_paired, evaluate_policy
    from qhil.common.model_dir import load_model_dir
    from qhil.common.protocol import reported_seeds
    from qhil.quant.blob import write_blob
    from qhil.quant.config import parse_bits
    from qhil.quant.pipeline import Calibrator
    from qhil.quant.policy import QuantPolicy

    model = load_model_dir(args.model)
    n_layers = len(model.actor.weights)
    settings = [s.strip() for s in args.settings.split(";") if s.strip()]
    configs = [parse_bits(s, n_layers) for s in settings]  # fail before any work
    seeds, purpose = reported_seeds(args.seeds, args.episodes)
    calibrator = Calibrator(model, ptq_options(args))
    float_res = evaluate_policy(model.actor, model.env_id, seeds, purpose)
    rows: list[dict[str, object]] = [{
        "setting": "float", "bits": "float32", "mean": float_res.mean, "std": float_res.std,
        "percent_of_float": 100.0, "interval95": [100.0, 100.0],
        "early_terminations": float_res.early_terminations,
        "weight_bytes": 4 * model.actor.n_macs,
        "blob_bytes": len(write_blob(model.actor, env_id=model.env_id)),
    }]
    for text, bits in tqdm(list(zip(settings, configs, strict=True)), desc="settings",
                           unit="setting"):
        qmodel = calibrator.quantize(bits)
        res = evaluate_policy(QuantPolicy(qmodel), model.env_id, seeds, purpose)
        paired = compare_paired(res, float_res)
        rows.append({"setting": text, "bits": str(bits), "mean": res.mean, "std": res.std,
                     "percent_of_float": paired.percent, "interval95": list(paired.interval),
                     "early_terminations": res.early_terminations,
                     "weight_bytes": qmodel.weight_bytes, "blob_bytes": len(write_blob(qmodel))})
    print(f"{model.env_id} ({model.meta.get('algo', '?')} {model.actor.layer_sizes}), "
          f"{len(seeds)} episodes on seeds {seeds}")
    print(f"{'setting':26s} {'return':>20s} {'% float (95% CI)':>22s} {'early':>6s} "
          f"{'weights B':>10s} {'blob B':>8s}")
    for r in rows:
        ret = f"{r['mean']:.1f} +- {r['std']:.1f}"
        ci: list[float] = r["interval95"]  # type: ignore[assignment]
        pct = f"{r['percent_of_float']:.1f} ({ci[0]:.1f}-{ci[1]:.1f})"
        print(f"{r['setting']!s:26s} {ret:>20s} {pct:>22s} {r['early_terminations']:>6} "
              f"{r['weight_bytes']:>10} {r['blob_bytes']:>8}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(
            {"env_id": model.env_id, "episodes": len(seeds), "seeds": str(seeds),
             "options": vars(ptq_options(args)), "rows": rows}, indent=2) + "\n")
    if args.plot:
        from qhil.report.plots import sweep_plot

        sweep_plot(rows, model.env_id, Path(args.plot))
    return 0
