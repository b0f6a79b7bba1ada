"""Kernel code per weight width in flash images -> results/kernel_code.json.

    .venv/bin/python benchmarks/kernel_code.py

A firmware with a model compiled into flash (``qhil export-c``; ``--weights-in flash``)
links only the optimized loops of the widths its model uses (firmware/include/
qhil_kernel_widths.h; layers of other widths, from an upload, run the reference kernel).
For qemu-m0-builtin and qemu-m4-builtin, each built with a random Pendulum-shape model of
one width (the DSP target with its blob laid out for the kernel), this reads the link map
and sums the code and constant bytes (.text*, .rodata*) of the objects under src/nn/: the
kernels, the reference kernel included. The same sum for qemu-m0 and qemu-m4, which take
any uploaded model, is the row "every width".
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from qhil.common.actor import FloatActor
from qhil.quant.blob import relayout_blob, write_blob
from qhil.quant.config import parse_bits
from qhil.quant.layout import KernelOrder
from qhil.quant.random_model import random_quant_model
from qhil.targets.firmware import FIRMWARE_DIR, build_firmware, build_with_model, builtin_lock

OUT = Path(__file__).resolve().parent / "results" / "kernel_code.json"
SIZES = [3, 64, 64, 1]
SETTINGS = ["int8", "w4a4", "w3a3", "w2a2", "float32"]
TARGETS = {"qemu-m0": ("qemu-m0-builtin", KernelOrder.ROWS),
           "qemu-m4": ("qemu-m4-builtin", KernelOrder.DSP)}
SECTION = re.compile(r"^ (\.\S+)?\s*0x[0-9a-f]+\s+0x([0-9a-f]+)\s+(\S+\.o)$")


def kernel_bytes(env: str) -> int:
    """.text and .rodata bytes the link kept from objects under src/nn/."""
    lines = (FIRMWARE_DIR / ".pio" / "build" / env / "firmware.map").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Linker script and memory"))
    total, name = 0, ""
    for line in lines[start:]:
        if line.startswith(" .") and len(line.split()) == 1:
            name = line.split()[0]  # the section's name, its address on the next line
            continue
        m = SECTION.match(line)
        if m:
            section = m.group(1) or name
            if section.startswith((".text", ".rodata")) and "/src/nn/" in m.group(3):
                total += int(m.group(2), 16)
        name = ""
    return total


def blob_for(setting: str, order: KernelOrder) -> bytes:
    rng = np.random.default_rng(1)
    if setting == "float32":
        ws = tuple(rng.normal(0, 0.3, size=(b, a)).astype(np.float32)
                   for a, b in zip(SIZES, SIZES[1:], strict=False))
        bs = tuple(np.zeros(b, np.float32) for b in SIZES[1:])
        return write_blob(FloatActor(ws, bs, np.zeros(3), np.ones(3), np.inf, -np.ones(1),
                                     np.ones(1), "tanh"))
    model = random_quant_model(rng, SIZES, parse_bits(setting, len(SIZES) - 1))
    return relayout_blob(write_blob(model), order)


def main() -> None:
    rows: dict[str, dict[str, int]] = {}
    for target, (builtin, order) in TARGETS.items():
        build_firmware(target)
        rows[target] = {"every width": kernel_bytes(target)}
        with builtin_lock():
            for setting in SETTINGS:
                build_with_model(builtin, blob_for(setting, order))
                rows[target][setting] = kernel_bytes(builtin)
        print(target, rows[target], flush=True)
    OUT.write_text(json.dumps(rows, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
