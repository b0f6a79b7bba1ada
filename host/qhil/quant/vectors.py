"""Shared test vectors: blobs, input codes and expected action codes, versioned.

``python -m qhil.quant.vectors [DIR]`` regenerates ``tests/vectors/v1/``. Each case is

- ``<case>.qhil``: the model blob
- ``<case>.in.bin``: int16 little-endian input codes ``[count, obs_dim]``
- ``<case>.out.bin``: int16 little-endian expected action codes ``[count, act_dim]``

(``device_*`` cases are device images of other cases: the same inputs and answers), and
``manifest.json`` lists the cases with their sizes and model ids. Python tests read them
with numpy; firmware tests read the same files (native) or receive them over the
link (emulators and boards). The golden executor produced the outputs; a test checks
that it still does, so a change of semantics cannot slip through as a silent rewrite.

Two more files pin what is not integer arithmetic (docs/quantization.md#shared-test-vectors):
``converters.json`` (raw observations -> input codes, action codes -> env actions, for
some of the blobs above) and the float32 case ``f32_tiny`` (``.qhil``, ``.in.bin`` and
``.out.bin`` of little-endian float32, compared within ``F32_TOLERANCE``).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qhil.common.actor import Activation
from qhil.quant.blob import blob_id, blob_layouts, read_blob, write_blob
from qhil.quant.config import BitConfig, parse_bits
from qhil.quant.golden import GoldenExecutor
from qhil.quant.layout import KernelOrder
from qhil.quant.qmodel import QuantModel
from qhil.quant.random_model import random_input_codes, random_quant_model, random_tflite_model

__all__ = ["VECTOR_VERSION", "VectorCase", "generate", "load_cases", "DEFAULT_DIR",
           "F32_TOLERANCE", "generate_converters", "generate_f32", "load_f32"]

VECTOR_VERSION = 1
DEFAULT_DIR = Path(__file__).resolve().parents[3] / "tests" / "vectors" / f"v{VECTOR_VERSION}"
COUNT = 64
#: Largest absolute difference allowed between a float32 executor's outputs and f32_tiny's
#: (the order of float32 additions and libm's tanhf may differ between implementations).
F32_TOLERANCE = 2e-5
#: Vector cases whose converters converters.json pins (tanh and linear outputs).
_CONVERTER_CASES = ("w3a3", "mixed_cheetah", "in16_linear", "in2_w2a2")

# name: (layer sizes, bits, output kind, share of tie-prone channels)
_CASES: dict[str, tuple[list[int], str, str, float]] = {
    **{f"w{b}a{b}": ([5, 13, 9, 2], f"w{b}a{b}i8", "tanh", 0.0) for b in range(2, 9)},
    "mixed_cheetah": ([17, 64, 64, 6], "w=8,3,8 a=8,3,8 in=10", "tanh", 0.0),
    "in16_linear": ([11, 32, 32, 3], "w=8 a=8 in=16", "clip", 0.0),
    "in2_w2a2": ([3, 8, 8, 1], "w=2 a=2 in=2 out=4", "tanh", 0.0),
    "deep_mixed": ([6, 20, 20, 20, 20, 4], "w=4,5,6,7,8 a=3,4,5,6,7 in=12 out=12", "tanh",
                   0.0),
    "single_layer": ([4, 2], "w=8 a=8 in=8", "tanh", 0.0),
    "wide_w4": ([64, 256, 1], "w=4 a=4 in=12", "tanh", 0.0),
    "pendulum_size_w3": ([3, 64, 64, 1], "w3a3i10", "tanh", 0.0),
    # Multipliers of exactly 2**30 with shifts 31..35 in half the channels, and small
    # accumulators (narrow inputs and weights) that stay in range after the shift: exact
    # rounding ties of both signs, which continuous multipliers never produce.
    "ties_w3a8": ([5, 16, 3, 6], "w=3 a=8 in=4", "clip", 0.5),
    "ties_w2a6": ([4, 12, 2, 6], "w=2 a=6 in=3", "clip", 0.5),
    "ties_w4a8_tanh": ([6, 16, 12, 2], "w=4 a=8 in=4", "tanh", 0.5),
}
# Format version 2: hidden activations other than ReLU (name: case as above, activations).
_V2_CASES: dict[str, tuple[list[int], str, str, float, str]] = {
    "tanh_ppo_w8": ([3, 64, 64, 1], "w=8 a=8 in=12", "clip", 0.0, "tanh,tanh"),
    "tanh_w4a4": ([5, 13, 9, 2], "w4a4i8", "clip", 0.0, "tanh,tanh"),
    "tanh_w2a2": ([4, 8, 8, 1], "w=2 a=2 in=6 out=8", "tanh", 0.0, "tanh,tanh"),
    "mixed_acts": ([6, 16, 16, 16, 2], "w=3,4,8,8 a=3,4,6,8 in=10", "tanh", 0.0,
                   "tanh,identity,relu"),
    "tanh_deep6": ([8, 24, 24, 24, 24, 24, 2], "w=8,4,3,8,4,8 a=8,4,3,8,4,8 in=10", "clip",
                   0.25, "tanh,tanh,tanh,identity,tanh"),
}

# Format version 3: weights in the DSP kernel's blocked layouts (8-bit 4x4, 4-bit 2x8;
# the 3-bit layer stays in rows), odd sizes so that rows and inputs are padded.
_V3_CASES: dict[str, tuple[list[int], str, str, float, str]] = {
    "layout_dsp_w8w4": ([17, 64, 30, 6], "w=8,4,8 a=8,4,8 in=10", "tanh", 0.0, ""),
    "layout_dsp_mixed": ([5, 13, 9, 3], "w=4,8,3 a=4,8,3 in=8", "clip", 0.25, "tanh,relu"),
    "layout_dsp_w2": ([9, 40, 17, 2], "w=2,2,8 a=2,8,8 in=6", "tanh", 0.0, ""),
}


# Format version 4: the tflite arithmetic (sizes, one letter per layer: i identity with a
# clamp, t a table; share of left-shift rows; share of tie rows).
_V4_CASES: dict[str, tuple[list[int], str, float, float]] = {
    "tflite_mixed": ([7, 24, 16, 3], "iti", 0.0, 0.25),
    "tflite_lshift": ([5, 12, 4], "ii", 0.5, 0.0),
    "tflite_table_last": ([6, 16, 2], "it", 0.1, 0.25),
}


# Device images (version 4, docs/model-format.md#device-images) of cases above: the host
# section and metadata left out, an odd output table stored as its half; same inputs and
# answers as the case they are made from.
_DEVICE_CASES: dict[str, str] = {
    "device_mixed_cheetah": "mixed_cheetah",
    "device_in2_w2a2": "in2_w2a2",
    "device_tanh_ppo_w8": "tanh_ppo_w8",
    "device_tflite_mixed": "tflite_mixed",
}


@dataclass(frozen=True)
class VectorCase:
    name: str
    blob: bytes
    inputs: np.ndarray  # int64 [count, obs_dim]
    outputs: np.ndarray  # int64 [count, act_dim]


def _write_case(out_dir: Path, name: str, model: QuantModel, rng: np.random.Generator,
                order: KernelOrder) -> tuple[bytes, np.ndarray, np.ndarray]:
    """A case's three files: the blob, its input codes and the golden answers."""
    data = write_blob(model, meta={"case": name}, order=order)
    x = random_input_codes(rng, model, COUNT)
    y = GoldenExecutor(model).action_codes(x)
    (out_dir / f"{name}.qhil").write_bytes(data)
    (out_dir / f"{name}.in.bin").write_bytes(x.astype("<i2").tobytes())
    (out_dir / f"{name}.out.bin").write_bytes(y.astype("<i2").tobytes())
    return data, x, y


def generate(out_dir: Path = DEFAULT_DIR, seed: int = 1234) -> list[VectorCase]:
    out_dir.mkdir(parents=True, exist_ok=True)
    entries: list[dict[str, object]] = []
    manifest: dict[str, object] = {"version": VECTOR_VERSION, "seed": seed, "cases": entries}
    cases = []
    all_cases = {**{k: (*v, "", KernelOrder.ROWS) for k, v in _CASES.items()},
                 **{k: (*v, KernelOrder.ROWS) for k, v in _V2_CASES.items()},
                 **{k: (*v, KernelOrder.DSP) for k, v in _V3_CASES.items()}}
    for index, (name, (sizes, bits_text, output, ties, acts, order)) in enumerate(
            all_cases.items()):
        rng = np.random.default_rng([seed, index])
        bits: BitConfig = parse_bits(bits_text, len(sizes) - 1)
        activations = tuple(Activation.parse(a) for a in acts.split(",")) if acts else ()
        model = random_quant_model(rng, sizes, bits, output, tie_share=ties,
                                   activations=activations)
        data, x, y = _write_case(out_dir, name, model, rng, order)
        entries.append({
            "name": name, "bits": str(bits), "output": output, "sizes": sizes, "count": COUNT,
            "obs_dim": sizes[0], "act_dim": sizes[-1], "blob_bytes": len(data),
            "model_id": f"0x{blob_id(data):08x}",
            **({"activations": acts.split(",")} if acts else {}),
            **({"layouts": [f"0x{lay.code:02x}" for lay in blob_layouts(data)]}
               if order is not KernelOrder.ROWS else {}),
        })
        cases.append(VectorCase(name, data, x, y))
    for index, (name, (sizes, tables, lshift, ties)) in enumerate(_V4_CASES.items(),
                                                                  start=len(all_cases)):
        rng = np.random.default_rng([seed, index])
        model = random_tflite_model(rng, sizes, tables, lshift, ties)
        data, x, y = _write_case(out_dir, name, model, rng, KernelOrder.ROWS)
        entries.append({
            "name": name, "bits": str(model.bits), "output": "clip", "sizes": sizes,
            "count": COUNT, "obs_dim": sizes[0], "act_dim": sizes[-1], "blob_bytes": len(data),
            "model_id": f"0x{blob_id(data):08x}", "arithmetic": "tflite",
            "activations": ["table" if t == "t" else "identity" for t in tables]})
        cases.append(VectorCase(name, data, x, y))
    by_name = {case.name: (case, entry) for case, entry in zip(cases, entries, strict=True)}
    for name, source in _DEVICE_CASES.items():
        case, entry = by_name[source]
        data = write_blob(read_blob(case.blob), device=True)
        (out_dir / f"{name}.qhil").write_bytes(data)
        (out_dir / f"{name}.in.bin").write_bytes(case.inputs.astype("<i2").tobytes())
        (out_dir / f"{name}.out.bin").write_bytes(case.outputs.astype("<i2").tobytes())
        entries.append({**entry, "name": name, "device_image_of": source,
                        "blob_bytes": len(data), "model_id": f"0x{blob_id(data):08x}",
                        "flags": data[18]})
        cases.append(VectorCase(name, data, case.inputs, case.outputs))
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    generate_converters(out_dir, seed)
    generate_f32(out_dir, seed)
    return cases


def generate_converters(out_dir: Path = DEFAULT_DIR, seed: int = 1234) -> dict[str, object]:
    """``converters.json``: per case, float64 observations (some far outside the input
    range, to saturate) with their input codes, and action codes (every extreme) with the
    env actions they decode to. JSON floats are shortest round-trip reprs: exact float64."""
    from qhil.quant.policy import dequantize_action, quantize_obs

    out: dict[str, object] = {"version": VECTOR_VERSION, "cases": []}
    for name in _CONVERTER_CASES:
        model = read_blob((out_dir / f"{name}.qhil").read_bytes())
        assert isinstance(model, QuantModel)
        rng = np.random.default_rng([seed, 1000, _CONVERTER_CASES.index(name)])
        span = model.in_step.astype(np.float64) * model.in_limit
        centre = model.in_center.astype(np.float64)
        obs = centre + span * rng.uniform(-1.3, 1.3, size=(16, model.obs_dim))
        obs[0] = centre  # code 0
        # halfway between two codes, as float64 computes it: the tie rule of the converter
        obs[1] = centre + (np.arange(model.obs_dim) % 5 + 0.5) * model.in_step.astype(np.float64)
        if model.output == "tanh":  # table codes: symmetric, +-(2^(O-1) - 1)
            lo = -(hi := (1 << (model.out_bits - 1)) - 1)
        else:  # the last layer's signed codes
            lo, hi = model.layers[-1].out_range
        codes = rng.integers(lo, hi + 1, size=(8, model.action_dim))
        codes[0], codes[1] = lo, hi
        out["cases"].append({  # type: ignore[attr-defined]
            "blob": f"{name}.qhil", "output": model.output,
            "observations": obs.tolist(), "input_codes": quantize_obs(model, obs).tolist(),
            "action_codes": codes.tolist(), "actions": dequantize_action(model, codes).tolist()})
    (out_dir / "converters.json").write_text(json.dumps(out, indent=1) + "\n")
    return out


def generate_f32(out_dir: Path = DEFAULT_DIR, seed: int = 1234) -> VectorCase:
    """``f32_tiny``: a float32 blob (kind 1) of a small random actor, float32 normalized
    inputs and the outputs a float32 forward pass gives (tanh applied in float64, then
    rounded to float32)."""
    from qhil.common.actor import FloatActor

    rng = np.random.default_rng([seed, 2000])
    sizes = [5, 12, 8, 2]
    weights = tuple(rng.normal(scale=0.5, size=(sizes[i + 1], sizes[i])).astype(np.float32)
                    for i in range(3))
    biases = tuple(rng.normal(scale=0.1, size=n).astype(np.float32) for n in sizes[1:])
    actor = FloatActor(weights, biases, rng.normal(size=5), rng.uniform(0.5, 2, size=5),
                       5.0, -np.ones(2), np.ones(2), "tanh")
    data = write_blob(actor, env_id="f32_tiny")
    z = rng.normal(size=(COUNT, 5)).astype(np.float32)
    z[0] = 0.0
    y = np.stack([_f32_forward(weights, biases, row) for row in z])
    (out_dir / "f32_tiny.qhil").write_bytes(data)
    (out_dir / "f32_tiny.in.bin").write_bytes(z.astype("<f4").tobytes())
    (out_dir / "f32_tiny.out.bin").write_bytes(y.astype("<f4").tobytes())
    return VectorCase("f32_tiny", data, z.astype(np.float64), y.astype(np.float64))


def _f32_forward(weights: tuple[np.ndarray, ...], biases: tuple[np.ndarray, ...],
                 z: np.ndarray) -> np.ndarray:
    h = z.astype(np.float32)
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        acc = b.copy()
        for k in range(w.shape[1]):  # float32, in k order: what the spec's loop does
            acc = (acc + w[:, k] * h[k]).astype(np.float32)
        h = np.maximum(acc, np.float32(0)) if i < len(weights) - 1 else acc
    return np.tanh(h.astype(np.float64)).astype(np.float32)


def load_f32(directory: Path = DEFAULT_DIR) -> VectorCase:
    """The float32 case (inputs and outputs as float64 arrays of float32 values)."""
    data = (directory / "f32_tiny.qhil").read_bytes()
    z = np.frombuffer((directory / "f32_tiny.in.bin").read_bytes(), "<f4").reshape(-1, 5)
    y = np.frombuffer((directory / "f32_tiny.out.bin").read_bytes(), "<f4").reshape(-1, 2)
    return VectorCase("f32_tiny", data, z.astype(np.float64), y.astype(np.float64))


def load_cases(directory: Path = DEFAULT_DIR) -> list[VectorCase]:
    """Read the committed vectors back."""
    manifest = json.loads((directory / "manifest.json").read_text())
    cases = []
    for entry in manifest["cases"]:
        name, n = entry["name"], entry["count"]
        x = np.frombuffer((directory / f"{name}.in.bin").read_bytes(), "<i2")
        y = np.frombuffer((directory / f"{name}.out.bin").read_bytes(), "<i2")
        cases.append(VectorCase(name, (directory / f"{name}.qhil").read_bytes(),
                                x.reshape(n, entry["obs_dim"]).astype(np.int64),
                                y.reshape(n, entry["act_dim"]).astype(np.int64)))
    return cases


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DIR
    for case in generate(target):
        print(f"{case.name:20s} {len(case.blob):6d} bytes  id 0x{blob_id(case.blob):08x}")
