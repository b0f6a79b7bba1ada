"""``qhil import``: bring your own policy (stable-baselines3, ONNX, PyTorch, TFLite)."""

from __future__ import annotations

import argparse
import logging

from qhil.cli.settings_options import add_settings, settings_from
from qhil.train.settings import ImportArgs

NAMES = ("import",)
HELP = "import a policy trained elsewhere (stable-baselines3 zip, ONNX, PyTorch, int8 TFLite)"
DESCRIPTION = """\
Turn a policy you trained elsewhere into a qhil model folder (actor.npz + meta.json) that
every other command takes: quantize, sweep-bits, bench, qat, autoquant.

The network must be an MLP: Linear layers with ReLU, Tanh or no activation between
them, a tanh-squashed or linear action layer. It is checked against the source's own
actions (stable-baselines3's predict, onnxruntime, torch) on 1,000 observations of the
env (differences above 1e-5 are an error), then its float return is measured on the
test seeds (docs/evaluation.md). meta.json records the file, its sha256 and that check.

An int8 .tflite policy (--tflite) is not re-quantized: it becomes tflite.qhil in TFLite
Micro's own integer arithmetic (docs/quantization.md#the-tflite-arithmetic), checked
equal to TFLM's interpreter on 10,000 inputs, beside actor.npz, its float twin
(dequantized weights), which is the float baseline. Bench it with --blob FOLDER/tflite.qhil.

example: qhil import --sb3 ppo_pendulum.zip --env Pendulum-v1 -o models/my-ppo
more:
  qhil import --sb3 sac.zip --vecnormalize vecnormalize.pkl --env Hopper-v5 -o models/sac
  qhil import --onnx actor.onnx --env mylab.envs:make_arm --env-kwargs '{"links": 3}' -o m
  qhil import --torch cleanrl_td3_actor.pt --env HalfCheetah-v5 -o models/cleanrl
  qhil import --tflite actor_int8.tflite --env Pendulum-v1 -o models/tfl
"""

LOG = logging.getLogger(__name__)


def add_args(parser: argparse.ArgumentParser) -> None:
    add_settings(parser, ImportArgs)


def run(args: argparse.Namespace) -> int:
    from qhil.common.model_dir import load_model_dir
    from qhil.tflite.importer import import_tflite
    from qhil.train.importer import import_policy

    settings = settings_from(ImportArgs, args)
    out = import_tflite(settings) if settings.tflite is not None else import_policy(settings)
    meta = load_model_dir(out).meta
    ev = meta["eval"]
    check = meta["source"].get("check")
    how = (f"equal to TFLM on {check['inputs']:,} inputs" if check
           else f"checked to {meta['source']['max_abs_action_error']:.1e}")
    LOG.info("saved %s (%s, %s): float return %.1f +- %.1f over %d test episodes",
             out, meta["algo"], how, ev["mean"], ev["std"], ev["episodes"])
    return 0
