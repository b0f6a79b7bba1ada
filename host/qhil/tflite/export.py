"""``qhil export --tflite``: a model folder's float actor, quantized as TFLite's converter
would (:mod:`qhil.tflite.ptq`), written as a ``.tflite`` file that TFLM's interpreter runs
and as the same model in a qhil blob (the tflite arithmetic), checked equal on
:data:`qhil.tflite.importer.CHECK_INPUTS` inputs before anything is written."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qhil.common.model_dir import load_model_dir
from qhil.quant.blob import write_blob
from qhil.quant.calibrate import collect_observations
from qhil.tflite.convert import ActionMap, to_quant_model
from qhil.tflite.importer import CHECK_INPUTS, check_against_tflm, check_inputs
from qhil.tflite.ptq import quantize_actor_tflite
from qhil.tflite.writer import write_tflite

__all__ = ["export_tflite", "TfliteExport"]

LOG = logging.getLogger(__name__)
CALIBRATION_EPISODES = 20


@dataclass(frozen=True)
class TfliteExport:
    tflite: Path
    blob: Path
    tflite_bytes: int
    blob_bytes: int
    check: dict[str, Any]


def export_tflite(model_dir: Path, out: Path, blob_out: Path | None = None,
                  int8_io: bool = False) -> TfliteExport:
    """Quantize, write ``out`` (.tflite) and ``blob_out`` (default: ``out`` with .qhil);
    ``int8_io``: int8 input and output tensors instead of QUANTIZE and DEQUANTIZE."""
    model = load_model_dir(model_dir)
    actor, env_ref = model.actor, model.env_id
    obs = collect_observations(actor, env_ref, CALIBRATION_EPISODES)
    graph = quantize_actor_tflite(actor, obs, int8_io)
    action_map: ActionMap = "rescale" if actor.output == "tanh" else "clip"
    qmodel = to_quant_model(graph, actor.action_low, actor.action_high, action_map, env_ref)
    data = write_tflite(graph, description=f"qhil export of {model_dir}")
    check = check_against_tflm(data, graph, qmodel,
                               check_inputs(graph, qmodel, obs, CHECK_INPUTS))
    blob = write_blob(qmodel, env_ref, {
        "method": "ptq-tflite", "source": str(model_dir), "actor_sha256": model.actor_sha256,
        "tflite_sha256": hashlib.sha256(data).hexdigest()})
    blob_out = blob_out or out.with_suffix(".qhil")
    out.write_bytes(data)
    blob_out.write_bytes(blob)
    LOG.info("calibrated on %d observations of %d rollouts (fit seeds); input scale %.4g, "
             "zero point %d (one scale for every feature, as TFLite quantizes tensors)",
             len(obs), CALIBRATION_EPISODES, graph.inp.scale, graph.inp.zero)
    return TfliteExport(out, blob_out, len(data), len(blob), check)


def agreement_line(check: dict[str, Any]) -> str:
    litert = check.get("litert_reference_equal")
    return (f"TFLM's interpreter equals qhil's golden executor on all {check['inputs']:,} inputs"
            + (f"; LiteRT's reference kernels agree on {litert:,} "
               f"({100 * litert / check['inputs']:.1f} %)" if litert is not None else ""))


