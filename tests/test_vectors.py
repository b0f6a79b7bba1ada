"""The committed shared test vectors still hold under today's golden executor."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np

from qhil.quant.blob import blob_id, read_blob
from qhil.quant.golden import GoldenExecutor
from qhil.quant.vectors import DEFAULT_DIR, generate, load_cases


def test_committed_vectors_reproduce() -> None:
    cases = load_cases()
    assert len(cases) >= 14
    for case in cases:
        model = read_blob(case.blob, source=case.name, device_image=True)
        np.testing.assert_array_equal(GoldenExecutor(model).action_codes(case.inputs),
                                      case.outputs, err_msg=case.name)


def test_vectors_cover_every_width() -> None:
    manifest = json.loads((DEFAULT_DIR / "manifest.json").read_text())
    seen_w, seen_a, seen_in = set(), set(), set()
    for case in load_cases():
        bits = read_blob(case.blob, device_image=True).bits  # type: ignore[union-attr]
        seen_w |= set(bits.w)
        seen_a |= set(bits.a)
        seen_in.add(bits.in_bits)
    assert seen_w == set(range(2, 9)) and seen_a == set(range(2, 9))
    assert {2, 16} <= seen_in
    assert manifest["version"] == 1


def test_generation_is_deterministic(tmp_path: Path) -> None:
    fresh = generate(tmp_path)
    for new, old in zip(fresh, load_cases(), strict=True):
        assert new.name == old.name
        assert blob_id(new.blob) == blob_id(old.blob), new.name
        np.testing.assert_array_equal(new.outputs, old.outputs)


def test_shared_vectors_pin_the_tie_rule() -> None:
    """The ties_* vectors meet exact rounding ties of both signs in range, and their
    expected outputs equal the exact-fraction reference: an executor that rounds ties
    half up, half to even or in float32 fails them."""
    from edge_models import count_ties, naive_layers
    from naive_integer import naive_policy

    ties = [0, 0]
    for case in load_cases():
        if not case.name.startswith("ties_"):
            continue
        model = read_blob(case.blob)
        pos, neg = count_ties(model, case.inputs)  # type: ignore[arg-type]
        ties[0] += pos
        ties[1] += neg
        layers = naive_layers(model)  # type: ignore[arg-type]
        lut = None if model.lut is None else model.lut.astype(int).tolist()  # type: ignore[union-attr]
        for x, y in zip(case.inputs.tolist(), case.outputs.tolist(), strict=True):
            assert naive_policy(x, layers, lut) == y, case.name
    assert ties[0] >= 50 and ties[1] >= 20, ties


def _round_half_away(v: float) -> int:
    return int(math.copysign(math.floor(abs(v) + 0.5), v))


def test_converter_vectors_follow_the_spec_formulas(tmp_path: Path) -> None:
    """converters.json is current, and the formulas of docs/quantization.md, written here
    in plain float64 Python, reproduce every code and action in it."""
    from qhil.quant.vectors import generate_converters

    shipped = json.loads((DEFAULT_DIR / "converters.json").read_text())
    for case in shipped["cases"]:
        shutil.copy(DEFAULT_DIR / case["blob"], tmp_path / case["blob"])
    assert generate_converters(tmp_path) == shipped
    outputs = set()
    for case in shipped["cases"]:
        model = read_blob((DEFAULT_DIR / case["blob"]).read_bytes())
        outputs.add(case["output"])
        centre = [float(np.float32(c)) for c in model.in_center]  # type: ignore[union-attr]
        step = [float(np.float32(s)) for s in model.in_step]  # type: ignore[union-attr]
        q_in = (1 << (model.in_bits - 1)) - 1  # type: ignore[union-attr]
        for obs, codes in zip(case["observations"], case["input_codes"], strict=True):
            assert codes == [max(-q_in, min(q_in, _round_half_away((o - c) / s)))
                             for o, c, s in zip(obs, centre, step, strict=True)]
        low = [float(v) for v in model.action_low]
        high = [float(v) for v in model.action_high]
        for codes, actions in zip(case["action_codes"], case["actions"], strict=True):
            if case["output"] == "tanh":
                q_out = (1 << (model.out_bits - 1)) - 1  # type: ignore[union-attr]
                want = [lo + (c / q_out + 1) / 2 * (hi - lo)
                        for c, lo, hi in zip(codes, low, high, strict=True)]
            else:
                sigma = float(np.float32(model.out_scale))  # type: ignore[union-attr]
                want = [min(max(c * sigma, lo), hi) for c, lo, hi in zip(codes, low, high,
                                                                         strict=True)]
            np.testing.assert_allclose(actions, want, rtol=0, atol=1e-12)
    assert outputs == {"tanh", "clip"}


def test_float32_vector_is_current(tmp_path: Path) -> None:
    from qhil.quant.vectors import generate_f32, load_f32

    fresh, shipped = generate_f32(tmp_path), load_f32()
    assert fresh.blob == shipped.blob
    np.testing.assert_array_equal(fresh.outputs, shipped.outputs)
    assert np.abs(shipped.outputs).max() < 1.0 and len(shipped.inputs) == 64
