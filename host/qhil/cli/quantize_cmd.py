"""``qhil quantize``: post-training quantization of a model folder into a .qhil blob."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from qhil.cli.options import add_ptq_options, ptq_options
from qhil.common.errors import ConfigError
from qhil.common.paths import writable_file

NAMES = ("quantize",)
HELP = "post-training quantize a float model into a .qhil blob"
DESCRIPTION = """\
Calibrate on noisy rollouts of the float policy and write an integer model blob
(docs/model-format.md) that the golden executor and the firmware run bit-exactly.

--bits takes per-layer widths (docs/quantization.md):
  w=8,3,8 a=8,3,8 in=10 out=16   weights, layer output codes, input codes, tanh codes
  w4a4  w3a3i12  int8             uniform shorthands (in defaults to 8)
--float32 writes the float policy instead (the on-device float baseline, device-f32).

example: qhil quantize --model models/Pendulum-v1 --bits w=8,3,8 -o pendulum_w3.qhil
"""

LOG = logging.getLogger(__name__)


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model folder")
    parser.add_argument("--bits", default="int8", help="bit configuration (default: int8)")
    parser.add_argument("--float32", action="store_true",
                        help="write a float32 blob of the float policy (no quantization)")
    parser.add_argument("-o", "--out", required=True, type=writable_file,
                        help="output .qhil file")
    add_ptq_options(parser)


def run(args: argparse.Namespace) -> int:
    from qhil.common.model_dir import load_model_dir
    from qhil.quant.blob import blob_id, write_blob
    from qhil.quant.config import parse_bits
    from qhil.quant.pipeline import Calibrator

    model = load_model_dir(args.model)
    out = Path(args.out)
    if out.suffix != ".qhil":
        raise ConfigError(f"output '{out}' should end in .qhil")
    if args.float32:
        data = write_blob(model.actor, env_id=model.env_id, meta={"source": str(model.path),
                                                                     "actor_sha256": model.actor_sha256})
        label = "float32"
    else:
        bits = parse_bits(args.bits, len(model.actor.weights))
        qmodel = Calibrator(model, ptq_options(args)).quantize(bits)
        data = write_blob(qmodel)
        label = f"{bits}  weights {qmodel.weight_bytes} B"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    print(f"wrote {out}: {model.env_id} {label}  blob {len(data)} B  id 0x{blob_id(data):08x}")
    return 0
