"""``qhil inspect``: validate a .qhil blob and print what it holds."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

NAMES = ("inspect",)
HELP = "validate a .qhil blob and describe its layers"
DESCRIPTION = """\
Read a blob with the strict reader (every field checked, CRC verified) and print its
layers, widths, sizes and worst-case accumulators. Exit status 2 names the first defect.

example: qhil inspect pendulum_w3.qhil --json
"""


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("blob", help=".qhil file")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the default table")


def run(args: argparse.Namespace) -> int:
    from qhil.quant.blob import blob_id, load_blob
    from qhil.quant.qmodel import QuantModel

    path = Path(args.blob)
    data, model = load_blob(path)
    info: dict[str, object] = {"file": str(path), "bytes": len(data),
                               "model_id": f"0x{blob_id(data):08x}"}
    if isinstance(model, QuantModel):
        info.update(kind="int", env_id=model.env_id, arithmetic=model.arithmetic,
                    bits=str(model.bits), output=model.output,
                    weight_bytes=model.weight_bytes, macs=model.n_macs, layers=[
                        {"in": la.n_in, "out": la.n_out, "w_bits": la.w_bits,
                         "out_bits": la.out_bits,
                         "act": "table" if la.clamp and la.lut is not None else la.act.value,
                         "table_bits": la.lut_bits,
                         **({"zero": la.clamp[0], "clamp": f"[{la.clamp[1]}, {la.clamp[2]}]"}
                            if la.clamp else {}),
                         "acc_bound": la.acc_bound(model.input_bound(i))}
                        for i, la in enumerate(model.layers)], meta=model.meta)
    else:
        info.update(kind="float32", layers=[{"in": int(w.shape[1]), "out": int(w.shape[0])}
                                            for w in model.weights], output=model.output)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{path}: {info['kind']} model, {len(data)} B, id {info['model_id']}")
    for key in ("env_id", "arithmetic", "bits", "output", "weight_bytes", "macs"):
        if key in info:
            print(f"  {key:12s} {info[key]}")
    layers: list[dict[str, object]] = info["layers"]  # type: ignore[assignment]
    for i, layer in enumerate(layers):
        print(f"  layer {i}: " + "  ".join(f"{k}={v}" for k, v in layer.items()))
    return 0
