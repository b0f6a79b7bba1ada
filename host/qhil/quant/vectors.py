"""Shared test vectors: blobs, input codes and expected action codes, versioned.

``python -m qhil.quant.vectors [DIR]`` regenerates ``tests/vectors/v1/``. Each case is

- ``<case>.qhil``: the model blob
- ``<case>.in.bin``: int16 little-endian input codes ``[count, obs_dim]``
- ``<case>.out.bin``: int16 little-endian expected action codes ``[count, act_dim]``

and ``manifest.json`` lists the cases with their sizes and model ids. Python tests read
them with numpy; firmware tests read the same files (native) or receive them over the
link (emulators and boards). The golden executor produced the outputs; a test checks
that it still does, so a change of semantics cannot slip through as a silent rewrite.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qhil.quant.blob import blob_id, write_blob
from qhil.quant.config import BitConfig, parse_bits
from qhil.quant.golden import GoldenExecutor
from qhil.quant.random_model import random_input_codes, random_quant_model

__all__ = ["VECTOR_VERSION", "VectorCase", "generate", "load_cases", "DEFAULT_DIR"]

VECTOR_VERSION = 1
DEFAULT_DIR = Path(__file__).resolve().parents[3] / "tests" / "vectors" / f"v{VECTOR_VERSION}"
COUNT = 64

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


@dataclass(frozen=True)
class VectorCase:
    name: str
    blob: bytes
    inputs: np.ndarray  # int64 [count, obs_dim]
    outputs: np.ndarray  # int64 [count, act_dim]


def generate(out_dir: Path = DEFAULT_DIR, seed: int = 1234) -> list[VectorCase]:
    out_dir.mkdir(parents=True, exist_ok=True)
    entries: list[dict[str, object]] = []
    manifest: dict[str, object] = {"version": VECTOR_VERSION, "seed": seed, "cases": entries}
    cases = []
    for index, (name, (sizes, bits_text, output, ties)) in enumerate(_CASES.items()):
        rng = np.random.default_rng([seed, index])
        bits: BitConfig = parse_bits(bits_text, len(sizes) - 1)
        model = random_quant_model(rng, sizes, bits, output, tie_share=ties)
        data = write_blob(model, meta={"case": name})
        x = random_input_codes(rng, model, COUNT)
        y = GoldenExecutor(model).action_codes(x)
        (out_dir / f"{name}.qhil").write_bytes(data)
        (out_dir / f"{name}.in.bin").write_bytes(x.astype("<i2").tobytes())
        (out_dir / f"{name}.out.bin").write_bytes(y.astype("<i2").tobytes())
        entries.append({
            "name": name, "bits": str(bits), "output": output, "sizes": sizes, "count": COUNT,
            "obs_dim": sizes[0], "act_dim": sizes[-1], "blob_bytes": len(data),
            "model_id": f"0x{blob_id(data):08x}",
        })
        cases.append(VectorCase(name, data, x, y))
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return cases


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
