"""``qhil export``: a model folder's policy in another toolchain's format (TFLite)."""

from __future__ import annotations

import argparse
from pathlib import Path

from qhil.common.paths import writable_file

NAMES = ("export",)
HELP = "write a model as an int8 .tflite that TFLite Micro runs bit-exactly like qhil"
DESCRIPTION = """\
Quantize a model folder's float actor as TFLite's converter would (float input quantized
per tensor, per-channel int8 weights, int8 activations calibrated on 20 rollouts of the
fit seeds) and write it twice: as a .tflite flatbuffer (TFLite's schema; no TensorFlow
needed) and as a qhil blob in the same arithmetic (docs/quantization.md#the-tflite-arithmetic)
that qhil bench runs on any target. Before writing, TFLM's interpreter must give outputs
identical to qhil's golden executor on 10,000 inputs; LiteRT's reference kernels' agreement
is printed (they round once where TFLM rounds twice).

example: qhil export --model models/Pendulum-v1 --tflite pendulum_int8.tflite
         qhil bench --model models/Pendulum-v1 --blob pendulum_int8.qhil --target qemu-m4
"""


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, type=Path, help="model folder (actor.npz)")
    parser.add_argument("--tflite", required=True, type=writable_file, metavar="FILE",
                        help=".tflite file to write")
    parser.add_argument("--blob", type=writable_file, default=None, metavar="FILE",
                        help="the qhil blob of the same model (default: FILE with .qhil)")
    parser.add_argument("--int8-io", action="store_true", help=(
        "int8 input and output tensors (your firmware quantizes the observation and "
        "dequantizes the action, with the scales and zero points in the file) instead of "
        "float tensors with QUANTIZE and DEQUANTIZE operators"))


def run(args: argparse.Namespace) -> int:
    from qhil.tflite.export import agreement_line, export_tflite

    result = export_tflite(args.model, args.tflite, args.blob, args.int8_io)
    print(f"wrote {result.tflite} ({result.tflite_bytes:,} bytes) and {result.blob} "
          f"({result.blob_bytes:,} bytes): {agreement_line(result.check)}")
    return 0
