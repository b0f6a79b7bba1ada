"""TFLite interop: converter-made int8 policies (tests/fixtures/tflite, made by
make_fixtures.py with TensorFlow's converter) in the tflite arithmetic, equal to TFLM's
interpreter; format version 4's rules on the host and on the device; ``qhil import
--tflite`` end to end, benched bit-exact on emulated cores."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from qhil.common.errors import DeviceError, ModelFormatError
from qhil.quant.blob import read_blob, write_blob
from qhil.quant.golden import GoldenExecutor
from qhil.quant.random_model import random_input_codes, random_tflite_model
from qhil.quant.requant import requantize
from qhil.quant.tflite_requant import quantize_multiplier_tflite, requantize_tflite
from qhil.tflite.convert import to_quant_model
from qhil.tflite.graph import read_tflite
from qhil.tflite.importer import check_against_tflm, check_inputs
from qhil.tflite.interpreters import run_tflm

FIXTURES = Path(__file__).parent / "fixtures" / "tflite"
POLICIES = ["pendulum_relu_pt", "pendulum_relu_pc", "pendulum_tanh_pc", "pendulum_tanh_pt",
            "relu6_logistic"]
QHIL = [sys.executable, "-m", "qhil.cli.main"]


def _mbqm(x: int, m: int, e: int) -> int:
    """TFLM's MultiplyByQuantizedMultiplier, written from its C source's steps."""
    left, right = max(e, 0), max(-e, 0)
    a = x * (1 << left)
    ab = a * m
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    h = abs(ab + nudge) // (1 << 31) * (1 if ab + nudge >= 0 else -1)  # C: toward zero
    mask = (1 << right) - 1
    threshold = (mask >> 1) + (1 if h < 0 else 0)
    return (h >> right) + (1 if (h & mask) > threshold else 0)


def test_requantize_tflite_is_tflms_rule() -> None:
    rng = np.random.default_rng(0)
    acc = rng.integers(-(1 << 24), 1 << 24, 4000)
    m = rng.integers(1 << 30, (1 << 31) - 1, 4000)
    m[::7] = 1 << 30  # exact ties of the second rounding
    e = rng.integers(-31, 7, 4000)
    acc[e > 0] >>= 7  # keep acc * 2**e inside int32
    got = requantize_tflite(acc, m, e)
    assert [int(v) for v in got] == [_mbqm(int(a), int(b), int(c)) for a, b, c in zip(acc, m, e, strict=True)]
    # the two arithmetics differ (double rounding), on a minority of values
    one = requantize(acc[e < 0], m[e < 0], -e[e < 0] + 31, -(1 << 40), 1 << 40)
    differ = np.mean(one != got[e < 0])
    assert 0.01 < differ < 0.5


def test_quantize_multiplier_follows_tflite() -> None:
    assert quantize_multiplier_tflite(0.0) == (0, 0)
    assert quantize_multiplier_tflite(0.5) == (1 << 30, 0)
    assert quantize_multiplier_tflite(1.0) == (1 << 30, 1)
    assert quantize_multiplier_tflite(2.0**-40) == (0, 0)
    assert quantize_multiplier_tflite(1 - 2.0**-40) == (1 << 30, 1)  # mantissa rounds to 1


@pytest.mark.parametrize("name", POLICIES)
def test_converter_made_models_equal_tflm(name: str) -> None:
    """10,000 inputs per model (uniform over the input range; the models' own QUANTIZE
    for float inputs): qhil's golden executor equals TFLM's interpreter on every one."""
    data = (FIXTURES / f"{name}.tflite").read_bytes()
    graph = read_tflite(data, name)
    model = to_quant_model(graph, -2 * np.ones(graph.act_dim), 2 * np.ones(graph.act_dim), "clip")
    model = read_blob(write_blob(model))  # the blob holds every integer
    assert model.arithmetic == "tflite"
    rng = np.random.default_rng(5)
    observations = rng.normal(0, 2, (5000, graph.obs_dim))
    check = check_against_tflm(data, graph, model, check_inputs(graph, model, observations,
                                                                10_000))
    assert check["tflm_equal"] == 10_000
    assert 0.9 * 10_000 < check["litert_reference_equal"] <= 10_000  # reported, not required


def test_the_per_channel_fixture_is_per_channel() -> None:
    per_channel = read_tflite((FIXTURES / "pendulum_relu_pc.tflite").read_bytes())
    per_tensor = read_tflite((FIXTURES / "pendulum_relu_pt.tflite").read_bytes())
    assert per_channel.ops[0].w_scales.size == 64 and per_tensor.ops[0].w_scales.size == 1
    assert not per_channel.float_input and per_tensor.float_input


@pytest.mark.parametrize(("name", "message"), [
    ("unsupported_add", "operator ADD is not supported"),
])
def test_unsupported_model_is_one_line(name: str, message: str) -> None:
    with pytest.raises(ModelFormatError, match=message):
        read_tflite((FIXTURES / f"{name}.tflite").read_bytes(), name)


def test_not_a_flatbuffer() -> None:
    with pytest.raises(ModelFormatError, match="not a TFLite flatbuffer"):
        read_tflite(b"\0" * 64)
    data = bytearray((FIXTURES / "pendulum_relu_pc.tflite").read_bytes())
    with pytest.raises(ModelFormatError):
        read_tflite(bytes(data[:200]))


def _recrc(data: bytearray) -> bytes:
    struct.pack_into("<I", data, len(data) - 4, zlib.crc32(bytes(data[:-4])))
    return bytes(data)


@pytest.fixture(scope="module")
def v4_blob() -> bytes:
    model = random_tflite_model(np.random.default_rng(3), [5, 9, 3], "ti", 0.3, 0.2)
    return write_blob(model)


def _bad_v4(blob: bytes) -> dict[str, bytes]:
    """Version-4 defects, each with the host reader's message."""
    tfl_off = struct.unpack_from("<I", blob, 56)[0]
    layer1 = 64 + 32
    shift_off = struct.unpack_from("<I", blob, layer1 + 24)[0]
    cases = {}

    def patch(name: str, offset: int, fmt: str, value: int, base: bytes = blob) -> None:
        data = bytearray(base)
        struct.pack_into(fmt, data, offset, value)
        cases[name] = _recrc(data)

    patch("reserved header bytes", 4, "<H", 3)  # a v4 model written as version 3
    patch("unknown arithmetic 2", 17, "<B", 2)
    patch("reserved byte of its tflite record", tfl_off + 3, "<B", 1)
    patch("clamp", tfl_off + 4 + 1, "<h", 100 | 50 << 8)  # layer 1: min 100 > max 50
    patch("exponent outside", shift_off, "<i", 31)
    patch("accumulator", shift_off, "<i", 30)  # left shift past the bound
    patch("tflite layers are identity", layer1 + 6, "<B", 0)  # relu
    patch("int8 weights and codes", layer1 + 5, "<B", 7)  # 7-bit output codes
    return cases


def test_version_4_defects_are_refused_by_the_host(v4_blob) -> None:
    assert read_blob(v4_blob).arithmetic == "tflite"
    for message, data in _bad_v4(v4_blob).items():
        with pytest.raises(ModelFormatError, match=message.split()[0]):
            read_blob(data)


def test_version_4_on_the_device(v4_blob) -> None:
    """Native firmware: the model answers bit-exactly, -128 is a valid input, and every
    defect above is a model error (not a crash); the device keeps answering."""
    from qhil.targets import start_target

    model = read_blob(v4_blob)
    x = random_input_codes(np.random.default_rng(1), model, 32)
    x[0] = -128
    with start_target("native") as target:
        target.device.load(v4_blob)
        got = np.stack([target.device.infer(row)[0] for row in x])
        np.testing.assert_array_equal(got, GoldenExecutor(model).action_codes(x))
        for name, data in _bad_v4(v4_blob).items():
            with pytest.raises(DeviceError):
                target.device.load(data)
            assert target.device.hello().model_format == 4, name
        # the converter's int8-in, int8-out models: the device answers what TFLM answers
        rng = np.random.default_rng(4)
        for fixture in ("pendulum_relu_pc", "pendulum_tanh_pt", "relu6_logistic"):
            data = (FIXTURES / f"{fixture}.tflite").read_bytes()
            graph = read_tflite(data)
            model = to_quant_model(graph, -np.ones(graph.act_dim), np.ones(graph.act_dim), "clip")
            target.device.load(write_blob(model))
            x = rng.integers(-128, 128, (64, graph.obs_dim))
            got = np.stack([target.device.infer(row)[0] for row in x])
            np.testing.assert_array_equal(got, run_tflm(data, x.astype(np.int8)), err_msg=fixture)


@pytest.mark.parametrize(("fixture", "mapping", "m0_weights_in"), [
    ("pendulum_relu_pc", "rescaled from [-1, 1]", "flash"),
    ("pendulum_tanh_pt", "clipped to the action bounds", "ram")])
def test_import_tflite_then_bench_bit_exact(tmp_path: Path, fixture: str, mapping: str,
                                            m0_weights_in: str) -> None:
    """The converter's policies, per-channel ReLU (TD3) and per-tensor tanh (PPO): import
    (checked against TFLM on 10,000 inputs), then closed loop on qemu-m4 and qemu-m0
    (from flash: an image built around the tflite model, its kernel linked in; or
    uploaded), every answer bit-exact."""
    out = tmp_path / "tfl"
    run = subprocess.run(QHIL + ["import", "--tflite", str(FIXTURES / f"{fixture}.tflite"),
                                 "--env", "Pendulum-v1", "--test-episodes", "2", "-o", str(out)],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert "equal to TFLM on 10,000 inputs" in run.stderr
    assert mapping in run.stderr
    meta = json.loads((out / "meta.json").read_text())
    assert meta["source"]["check"]["tflm_equal"] == 10_000
    for core, where in (("qemu-m4", "ram"), ("qemu-m0", m0_weights_in)):
        bench = subprocess.run(QHIL + ["bench", "--model", str(out), "--blob",
                                       str(out / "tflite.qhil"), "--variants", "float",
                                       "--target", core, "--weights-in", where, "--episodes",
                                       "2", "-o", str(tmp_path / core)],
                               capture_output=True, text=True, check=False)
        assert bench.returncode == 0, bench.stderr[-2000:]
        report = json.loads((tmp_path / core / "report.json").read_text())
        entry = next(v for v in report["variants"] if v["name"] == "tflite")
        assert entry["bit_exact"]["mismatches"] == 0
        assert entry["bit_exact"]["checked_steps"] == 2 * 200


_LOGICAL = {"NONE": lambda h: h, "RELU": lambda h: np.maximum(h, 0),
            "RELU6": lambda h: np.clip(h, 0, 6), "RELU_N1_TO_1": lambda h: np.clip(h, -1, 1),
            "TANH": np.tanh, "LOGISTIC": lambda h: 1 / (1 + np.exp(-h))}


def test_float_twin_is_the_same_function() -> None:
    """Every fused activation and table, hidden and last: the twin (ReLU, tanh and linear
    layers only) computes the dequantized network's function."""
    from qhil.tflite.graph import Quant, TfliteDense, TfliteGraph, TfliteTable
    from qhil.tflite.importer import float_twin

    rng = np.random.default_rng(5)
    q = Quant(0.05, 0)
    for posts in (["RELU6", "LOGISTIC", "RELU_N1_TO_1"], ["RELU_N1_TO_1", "TANH", "RELU6"],
                  ["LOGISTIC", "RELU", "LOGISTIC"], ["RELU", "NONE", "TANH"],
                  ["TANH", "RELU6", "RELU"], ["RELU6", "NONE"]):
        sizes = [4] + [int(n) for n in rng.integers(3, 9, len(posts) - 1)] + [2]
        ops: list[TfliteDense | TfliteTable] = []
        for n_in, n_out, post in zip(sizes[:-1], sizes[1:], posts, strict=True):
            table = post in ("TANH", "LOGISTIC")
            ops.append(TfliteDense(rng.integers(-127, 128, (n_out, n_in)).astype(np.int8),
                                   rng.integers(-500, 500, n_out).astype(np.int32),
                                   rng.uniform(0.005, 0.02, n_out).astype(np.float32), q, q,
                                   "NONE" if table else post))
            if table:
                ops.append(TfliteTable(post, q, q))
        twin = float_twin(TfliteGraph(tuple(ops), q, q, True, True), -np.ones(2), np.ones(2))
        x = rng.normal(0, 3, (300, 4))
        h = x
        for op, post in zip((o for o in ops if isinstance(o, TfliteDense)), posts, strict=True):
            w = op.weights.astype(np.float64) * op.w_scales[:, None].astype(np.float64)
            h = _LOGICAL[post](h @ w.T + op.bias * q.scale * op.w_scales.astype(np.float64))
        got = twin.squashed(x)
        np.testing.assert_allclose(got, h, atol=2e-4, err_msg=str(posts))
        assert twin.output == ("tanh" if posts[-1] == "TANH" else "clip")


def test_import_relu6_logistic_policy(tmp_path: Path) -> None:
    """RELU6 and LOGISTIC import (equal to TFLM on 10,000 inputs) and run closed loop."""
    out = tmp_path / "tfl"
    run = subprocess.run(QHIL + ["import", "--tflite",
                                 str(FIXTURES / "pendulum_relu6_logistic.tflite"), "--env",
                                 "Pendulum-v1", "--test-episodes", "2", "-o", str(out)],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert "equal to TFLM on 10,000 inputs" in run.stderr
    bench = subprocess.run(QHIL + ["bench", "--model", str(out), "--blob", str(out / "tflite.qhil"),
                                   "--variants", "float", "--target", "native", "--episodes", "2",
                                   "-o", str(tmp_path / "b")],
                           capture_output=True, text=True, check=False)
    assert bench.returncode == 0, bench.stderr[-2000:]
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    entry = next(v for v in report["variants"] if v["name"] == "tflite")
    assert entry["bit_exact"]["mismatches"] == 0 and entry["bit_exact"]["checked_steps"] == 400


def test_import_refusals_are_one_line(tmp_path: Path) -> None:
    cases = [(["--tflite", str(FIXTURES / "unsupported_add.tflite"), "--env", "Pendulum-v1"],
              "operator ADD is not supported"),
             (["--tflite", str(FIXTURES / "pendulum_relu_pc.tflite"), "--env", "Hopper-v5"],
              "has 11 observations"),
             (["--tflite", str(tmp_path / "missing.tflite"), "--env", "Pendulum-v1"],
              "does not exist"),
             (["--tflite", str(FIXTURES / "pendulum_relu_pc.tflite"), "--env", "Pendulum-v1",
               "--onnx", str(tmp_path / "a.onnx")], "give exactly one source")]
    for args, message in cases:
        run = subprocess.run(QHIL + ["import", *args, "-o", str(tmp_path / "x")],
                             capture_output=True, text=True, check=False)
        assert run.returncode == 2, run.stderr
        lines = [ln for ln in run.stderr.splitlines() if ln.startswith("qhil: error")]
        assert len(lines) == 1 and message in lines[0], run.stderr


def test_export_runs_under_tflm_like_qhil(tmp_path: Path) -> None:
    """qhil export --tflite: TFLM's interpreter equals the golden executor of the blob
    written beside it (checked at export on 10,000 inputs, and here again on others)."""
    out = tmp_path / "p.tflite"
    run = subprocess.run(QHIL + ["export", "--model", "models/Pendulum-v1", "--tflite", str(out)],
                         capture_output=True, text=True, check=False,
                         cwd=Path(__file__).resolve().parents[1])
    assert run.returncode == 0, run.stderr
    assert "equals qhil's golden executor on all 10,000 inputs" in run.stdout
    data = out.read_bytes()
    graph = read_tflite(data)
    model = read_blob(out.with_suffix(".qhil").read_bytes())
    assert graph.float_input and graph.ops[0].w_scales.size == 64
    assert model.arithmetic == "tflite" and model.output == "rescale"
    rng = np.random.default_rng(11)
    obs = rng.uniform([-1, -1, -8], [1, 1, 8], (3000, 3))
    check = check_against_tflm(data, graph, model, check_inputs(graph, model, obs, 4000, seed=2))
    assert check["tflm_equal"] == 4000


def test_export_refuses_a_missing_model(tmp_path: Path) -> None:
    run = subprocess.run(QHIL + ["export", "--model", str(tmp_path / "none"), "--tflite",
                                 str(tmp_path / "x.tflite")], capture_output=True, text=True,
                         check=False)
    assert run.returncode == 2 and run.stderr.count("qhil: error") == 1, run.stderr


def test_python_api_imports_and_exports(tmp_path: Path) -> None:
    from qhil import api

    folder = api.import_policy(tmp_path / "m", "Pendulum-v1",
                               tflite=FIXTURES / "pendulum_tanh_pt.tflite", test_episodes=2)
    blob = read_blob((folder.path / "tflite.qhil").read_bytes())
    assert blob.arithmetic == "tflite" and blob.output == "clip"  # PPO: a linear output
    out = api.export_tflite(folder.path, tmp_path / "again.tflite")
    assert read_tflite(out.read_bytes()).float_input
    out = api.export_tflite(folder.path, tmp_path / "int8.tflite", int8_io=True)
    graph = read_tflite(out.read_bytes())
    assert not graph.float_input and not graph.float_output


def test_tflite_vectors_pin_the_two_roundings() -> None:
    """An executor that rounds once (qhil's rule) instead of TFLM's twice fails the shared
    tflite vectors: some of their rows land on the ties where the two differ."""
    from qhil.quant.vectors import load_cases

    differing = 0
    for case in load_cases():
        model = read_blob(case.blob, device_image=True)
        if model.arithmetic != "tflite":
            continue
        h = case.inputs.astype(np.int64)
        for layer in model.layers:
            acc = h @ layer.weights.astype(np.int64).T + layer.bias
            zero, lo, hi = layer.clamp
            once = requantize(acc, layer.mult, 31 - layer.shift.astype(np.int64), -(1 << 40),
                              1 << 40)
            h = layer.activate(np.clip(once + zero, lo, hi))
        np.testing.assert_array_equal(GoldenExecutor(model).action_codes(case.inputs),
                                      case.outputs)
        differing += int(np.any(h != case.outputs, axis=1).sum())
    assert differing > 0
