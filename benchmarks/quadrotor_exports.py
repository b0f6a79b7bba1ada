"""The quadrotor's qat_w3 and qat_w2 under issue 33's recipe (issues 31 and 33).

    .venv/bin/python benchmarks/width_bits.py --envs QuadrotorHover-v0 --widths 128 \
        --weights 3,2 --acts 3
    .venv/bin/python benchmarks/quadrotor_exports.py [--ship]

The rule, written before any of the recipe's quadrotor exports was read, validation only:

- qat_w3: of issue 12's [64, 64] export (shipped until this rule replaced it; kept as
  benchmarks/results/width_bits/QuadrotorHover-v0/issue12_qat_w3.{qhil,json}) and the
  recipe's [128, 128] cell h128_w3a3, the one with the higher mean return on validation
  seeds 10100..10199 (golden executor, zero latency), which neither's own selection saw.
- qat_w2: the recipe's h128_w2a3. Issue 33 defines qat_w2 as 2-bit weights in every layer;
  issue 12's kept an 8-bit output layer, so it is no candidate.

Writes benchmarks/results/quadrotor/recipe_selection.json; ``--ship`` copies the kept
exports and their sidecars to models/QuadrotorHover-v0/. The test figures are in the
sidecars: reported, never used to choose.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TASK = "QuadrotorHover-v0"
CELLS = ROOT / "benchmarks" / "results" / "width_bits" / TASK
OUT = ROOT / "benchmarks" / "results" / "quadrotor" / "recipe_selection.json"
RULE = ("qat_w3: of issue 12's [64, 64] export and the recipe's h128_w3a3, the higher mean "
        "return on validation seeds 10100..10199, which neither's selection saw; qat_w2: the "
        "recipe's h128_w2a3 (issue 12's keeps an 8-bit output layer)")
CANDIDATES = {"qat_w3": ("issue12_qat_w3", "h128_w3a3"), "qat_w2": ("h128_w2a3",)}


def nested_validation(stem: str) -> dict[str, object]:
    """The export ``stem`` on the validation seeds no selection inside it saw (cached
    beside it, as width_bits.py caches its cells')."""
    path = CELLS / f"{stem}.nested.json"
    if not path.is_file():
        from width_bits import on_nested_seeds  # this folder: the cells' own measurement

        from qhil.quant.blob import load_blob
        from qhil.quant.policy import QuantPolicy
        from qhil.quant.qmodel import QuantModel

        _, model = load_blob(CELLS / f"{stem}.qhil")
        assert isinstance(model, QuantModel), "a QAT export is an integer model"
        path.write_text(json.dumps(on_nested_seeds(QuantPolicy(model), TASK), indent=1) + "\n")
    return dict(json.loads(path.read_text()))


def select() -> dict[str, Any]:
    kept: dict[str, str] = {}
    candidates: dict[str, dict[str, Any]] = {}
    for name, stems in CANDIDATES.items():
        for stem in stems:
            side = json.loads((CELLS / f"{stem}.json").read_text())
            # issue 12's sidecars predate --hidden: their student had the teacher's shape
            hidden = side.get("hidden") or json.loads(
                (ROOT / "models" / TASK / "meta.json").read_text())["net"]
            candidates[stem] = {"for": name, "bits": side["bits"], "hidden": hidden,
                                "weight_bytes": side["weight_bytes"],
                                "validation": nested_validation(stem)}
        kept[name] = max(stems, key=lambda s: float(candidates[s]["validation"]["mean"]))
    doc: dict[str, Any] = {"rule": RULE, "candidates": candidates, "kept": kept}
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    return doc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ship", action="store_true",
                        help="copy the kept exports to models/QuadrotorHover-v0/")
    args = parser.parse_args()
    doc = select()
    print(json.dumps(doc, indent=1))
    if args.ship:
        for name, stem in doc["kept"].items():
            for suffix in (".qhil", ".json"):
                shutil.copyfile(CELLS / f"{stem}{suffix}", ROOT / "models" / TASK / f"{name}{suffix}")
                print(f"wrote models/{TASK}/{name}{suffix}")


if __name__ == "__main__":
    main()
