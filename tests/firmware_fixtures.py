"""Running targets shared by the firmware tests (one build and one process per session)."""

from __future__ import annotations

import numpy as np

from qhil.common.actor import Activation
from qhil.link.framing import LoadPrep
from qhil.quant.blob import write_blob
from qhil.quant.config import BitConfig
from qhil.quant.golden import GoldenExecutor
from qhil.quant.layout import KernelOrder
from qhil.quant.random_model import random_input_codes, random_quant_model
from qhil.targets import Target


def check_random_models(target: Target, seeds: range, count: int = 16,
                        max_width: int = 64) -> int:
    """Random models at every width and hidden activation through the device, loaded in
    turn in rows, in the DSP kernel's blocked layouts (format version 3) and in rows with
    the widen flag; returns how many were checked."""
    checked = 0
    for seed in seeds:
        rng = np.random.default_rng(seed)
        # 7 consecutive seeds meet every weight and every activation width 2..8, and 49
        # seeds every pair (a Latin square), so short runs on slow targets cover all widths.
        w = 2 + seed % 7
        a = 2 + (seed + seed // 7) % 7
        bits = BitConfig((w, int(rng.integers(2, 9)), w), (a, a, int(rng.integers(2, 9))),
                         int(rng.integers(2, 17)), int(rng.integers(2, 17)))
        sizes = [int(rng.integers(1, 24)), int(rng.integers(1, max_width + 1)),
                 int(rng.integers(1, 40)), int(rng.integers(1, 7))]
        # odd seeds: tanh and identity hidden layers too (format version 2)
        acts = () if seed % 2 == 0 else (
            (Activation.TANH, Activation.IDENTITY, Activation.RELU)[seed // 2 % 3],
            (Activation.TANH, Activation.RELU)[seed // 6 % 2])
        model = random_quant_model(rng, sizes, bits, "tanh" if seed % 3 else "clip",
                                   tie_share=0.2, activations=acts)
        x = random_input_codes(rng, model, count)
        expected = GoldenExecutor(model).action_codes(x)
        order = KernelOrder.DSP if seed % 3 == 1 else KernelOrder.ROWS
        # in the DSP order, every other such seed keeps nothing at load (compact)
        prep = (LoadPrep.WIDEN if seed % 3 == 2 else
                LoadPrep.COMPACT if seed % 3 == 1 and seed // 3 % 2 else LoadPrep.STORED)
        target.device.load(write_blob(model, order=order), prep=prep)
        got = np.stack([target.device.infer(row)[0] for row in x])
        np.testing.assert_array_equal(got, expected, err_msg=f"seed {seed}, {bits}, {sizes}")
        checked += 1
    return checked
