"""What a bench compares: the float policy on the host, the float policy on the device,
and integer policies (quantized on the fly from a bit setting, or given as blobs)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from qhil.common.errors import ConfigError, ModelFormatError
from qhil.common.model_dir import ModelDir
from qhil.quant.blob import read_blob, write_blob
from qhil.quant.config import parse_bits
from qhil.quant.pipeline import Calibrator
from qhil.quant.qmodel import QuantModel

__all__ = ["Variant", "resolve_variants"]

Kind = Literal["host-float", "device-f32", "device-int"]
_BITS = re.compile(r"^(int8|w\d+a\d+(i\d+)?(o\d+)?)$")


@dataclass
class Variant:
    """One policy under test.

    :param name: label in reports (``float``, ``device-f32``, ``int8``, a blob's stem)
    :param kind: where and how it runs
    :param blob: the bytes uploaded to the device (device kinds)
    :param qmodel: the integer model, for the golden check (``device-int``)
    """

    name: str
    kind: Kind
    blob: bytes = b""
    qmodel: QuantModel | None = None
    bits: str = "float32"

    @property
    def on_device(self) -> bool:
        return self.kind != "host-float"


def resolve_variants(model: ModelDir, names: list[str], blobs: list[Path],
                     calibrator: Calibrator) -> list[Variant]:
    """Turn ``--variants`` names and ``--blob`` files into runnable variants.

    :raises ConfigError: unknown variant names
    :raises ModelFormatError: blobs that do not fit the model's env
    """
    variants: list[Variant] = []
    n_layers = len(model.actor.weights)
    for name in names:
        if name == "float":
            variants.append(Variant("float", "host-float"))
        elif name == "device-f32":
            variants.append(Variant("device-f32", "device-f32",
                                    write_blob(model.actor, env_id=model.env_id)))
        elif _BITS.match(name):
            bits = parse_bits(name, n_layers)
            qmodel = calibrator.quantize(bits)
            variants.append(Variant(name, "device-int", write_blob(qmodel), qmodel, str(bits)))
        else:
            raise ConfigError(f"unknown variant '{name}' (float, device-f32, int8, wXaY[iZ], "
                              "or give blobs with --blob)")
    for path in blobs:
        if not path.is_file():
            raise ModelFormatError(f"blob '{path}' does not exist")
        data = path.read_bytes()
        parsed = read_blob(data, source=str(path))
        obs_dim = parsed.obs_dim
        act_dim = parsed.act_dim if isinstance(parsed, QuantModel) else parsed.action_dim
        if (obs_dim, act_dim) != (model.actor.obs_dim, model.actor.action_dim):
            raise ModelFormatError(
                f"{path}: blob has {obs_dim} observations and {act_dim} actions, "
                f"{model.env_id} has {model.actor.obs_dim} and {model.actor.action_dim}")
        if isinstance(parsed, QuantModel):
            variants.append(Variant(path.stem, "device-int", data, parsed, str(parsed.bits)))
        else:
            variants.append(Variant(path.stem, "device-f32", data))
    seen: set[str] = set()
    for v in variants:
        if v.name in seen:
            raise ConfigError(f"variant '{v.name}' is given twice")
        seen.add(v.name)
    return variants
