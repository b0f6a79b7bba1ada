"""Quantization-aware training: what is trained is what the device runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from qhil.cli.main import main
from qhil.quant.blob import read_blob
from qhil.quant.policy import QuantPolicy, quantize_obs
from qhil.targets import start_target

PENDULUM = Path(__file__).resolve().parents[1] / "models" / "Pendulum-v1"


def test_qat_export_matches_simulation_and_runs_bit_exact(tmp_path: Path) -> None:
    out = tmp_path / "p.qhil"
    assert main(["-q", "qat", "--model", str(PENDULUM), "--bits", "w=3,3,3 a=3,3,8 in=12",
                 "--iterations", "3", "--grad-steps", "100", "--calib-episodes", "5",
                 "-o", str(out)]) == 0
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["agreement_with_simulation"] >= 0.999
    assert side["method"] == "qat-dagger" and len(side["validation_curve"]) == 4
    # three short iterations already beat post-training quantization on validation seeds
    assert side["best_validation_return"] > side["ptq_validation_return"]
    model = read_blob(out.read_bytes())
    policy = QuantPolicy(model)  # type: ignore[arg-type]
    obs = np.random.default_rng(0).uniform([-1, -1, -8], [1, 1, 8], size=(40, 3))
    with start_target("native") as target:
        target.device.load(out.read_bytes())
        for o in obs:
            x = quantize_obs(model, o)  # type: ignore[arg-type]
            np.testing.assert_array_equal(target.device.infer(x)[0],
                                          policy.executor.action_codes(x))
