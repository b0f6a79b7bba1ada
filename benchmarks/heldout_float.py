"""Record each shipped float actor's test return on the held-out protocol in its meta.json.

``meta.json``'s ``eval`` becomes the first 100 test seeds (docs/evaluation.md); the return
measured before the protocol (seeds 0..19) is kept as ``eval_before_protocol``.

Usage: .venv/bin/python benchmarks/heldout_float.py [models/<env> ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from qhil.common.evaluation import evaluate_policy
from qhil.common.model_dir import load_model_dir
from qhil.common.protocol import TEST_EPISODES, Split, split_seeds


def main(paths: list[str]) -> None:
    dirs = [Path(p) for p in paths] or sorted(Path("models").glob("*/"))
    for path in dirs:
        model = load_model_dir(path)
        seeds = split_seeds(Split.TEST, TEST_EPISODES)
        result = evaluate_policy(model.actor, model.env_id, seeds, Split.TEST)
        meta = json.loads((path / "meta.json").read_text())
        if meta["eval"].get("seeds") != str(seeds):
            meta.setdefault("eval_before_protocol", meta["eval"])
        meta["eval"] = result.as_dict()
        tmp = path / "meta.json.tmp"
        tmp.write_text(json.dumps(meta, indent=2) + "\n")
        tmp.replace(path / "meta.json")
        print(f"{model.env_id}: {result.mean:.1f} +- {result.std:.1f} on seeds {seeds}, "
              f"{result.early_terminations} ended early")


if __name__ == "__main__":
    main(sys.argv[1:])
