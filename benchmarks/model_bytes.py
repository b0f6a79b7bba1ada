"""A model's run-time bytes in three parts, against per-channel CMSIS-NN's -> results/model_bytes.json.

    .venv/bin/python benchmarks/model_bytes.py

For the random models of benchmarks/firmware_cost.py (Pendulum [3,64,64,1] and HalfCheetah
[17,64,64,6], int8 and w4a4), from the device image LOAD sends (docs/model-format.md
#device-images; the file's blob, with the host section and metadata, is reported beside it):

- parameters: what inference reads besides its inputs: every layer's weights section (at
  its stored width), its int32 bias, multiplier and shift (12 bytes a row), a tanh hidden
  layer's table and the output's tanh table (its odd half: 2^(A-1)+1 int16 entries);
- container overhead: the rest of the device image: header, layer table, alignment
  padding and the CRC;
- activations: two int16 ping-pong buffers of the widest layer (the firmware reserves them
  at its QHIL_MAX_WIDTH); kernel scratch and what a kernel keeps at load (LOAD's bytes used
  less the blob: the M4's 16-byte requantization records, the M55's starting sums) come on
  top and are in the firmware table.

Per-channel CMSIS-NN keeps, for the same model, the weights (int8, or two 4-bit codes a byte)
and per channel an int32 bias, multiplier and shift (12 bytes), as qhil does per row; the
output's tanh is a separate operator there and is not counted. The targets of issue 32:
parameters <= 1.05x per-channel CMSIS-NN's, container overhead <= 256 bytes on the device.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from qhil.quant.blob import half_table, write_blob
from qhil.quant.config import parse_bits
from qhil.quant.random_model import random_quant_model

OUT = Path(__file__).resolve().parent / "results" / "model_bytes.json"
SIZES = {"pendulum": [3, 64, 64, 1], "halfcheetah": [17, 64, 64, 6]}
SETTINGS = ["int8", "w4a4"]


def parts(sizes: list[int], setting: str) -> dict[str, int]:
    model = random_quant_model(np.random.default_rng(1), sizes, parse_bits(setting, len(sizes) - 1))
    blob = write_blob(model, device=True)
    params = 0
    for layer in model.layers:
        n_out, n_in = layer.weights.shape
        params += n_out * -(-n_in * layer.w_bits // 8) + 12 * n_out
        if layer.lut is not None:
            params += layer.lut.size
    table = None if model.lut is None else half_table(model.lut)
    lut = 0 if model.lut is None else 2 * (model.lut.size if table is None else table.size)
    cmsis = sum(-(-a * b * (8 if setting == "int8" else 4) // 8) + 12 * b  # s4 packs the matrix
                for a, b in zip(sizes, sizes[1:], strict=False))
    width = max(sizes)
    return {"file_blob": len(write_blob(model)), "blob": len(blob),
            "parameters": params + lut, "output_table": lut,
            "container_overhead": len(blob) - params - lut,
            "activations": 2 * 2 * width,
            "cmsis_nn_per_channel_parameters": cmsis}


def main() -> None:
    rows = {f"{name}/{setting}": parts(sizes, setting)
            for name, sizes in SIZES.items() for setting in SETTINGS}
    OUT.write_text(json.dumps(rows, indent=1) + "\n")
    for key, row in rows.items():
        print(key, row)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
