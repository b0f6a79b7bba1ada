"""A trained policy on disk: ``<dir>/actor.npz`` (weights) + ``<dir>/meta.json`` (provenance).

``meta.json`` fields (all written by ``qhil train``):

- ``format``: ``"qhil-actor/1"``
- ``env_id`` (an env reference, see :mod:`qhil.common.envs`), ``algo``, ``net`` (hidden
  widths), ``activations`` (one per hidden layer: ``"relu"``, ``"tanh"`` or ``"identity"``;
  absent in older folders, which are all ReLU), ``output`` (``"tanh"`` or ``"clip"``),
  ``obs_clip`` (``null`` for none)
- ``source`` (imported models, ``qhil import``): ``{"file", "sha256", "kind", ...}``
- ``train``: ``steps``, ``seed``, ``hyperparameters``, ``wall_time_s``, ``curve``
  (``[[step, mean_return], ...]`` on validation seeds)
- ``versions``: package versions used for training
- ``eval``: the test return on the held-out protocol (docs/evaluation.md):
  ``{"episodes", "seeds" ("A..B"), "mean", "std", "early_terminations", "returns",
  "lengths", "terminated"}`` -- deterministic actions, one episode per seed
- ``env_module_file`` (models of a user's env factory, ``module:function``): where the
  module lay when the model was made, named by the error where it does not import
- ``eval_before_protocol`` (older models): the return measured on seeds 0..19 before the
  protocol existed, kept for provenance
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qhil.common.actor import Activation, FloatActor
from qhil.common.envs import env_module_file, parse_env_reference
from qhil.common.errors import ModelFormatError

__all__ = ["ModelDir", "load_model_dir", "save_model_dir", "ACTOR_FORMAT", "actor_sha256"]

ACTOR_FORMAT = "qhil-actor/1"
_ACTOR_FILE = "actor.npz"
_META_FILE = "meta.json"


@dataclass
class ModelDir:
    """A loaded model folder."""

    path: Path
    actor: FloatActor
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def env_id(self) -> str:
        return str(self.meta["env_id"])

    @property
    def actor_sha256(self) -> str:
        """The sha256 (hex) of the actor's arrays (and its activations, where any is not
        ReLU): what the actor is, wherever it lies. Blobs made from it record it in their
        metadata as ``actor_sha256`` (docs/model-format.md#metadata)."""
        return actor_sha256(self.actor)

    @property
    def identity(self) -> str:
        """What the model is, independent of where it lies or how its path was typed:
        ``<env_id> actor sha256:<first 16 hex digits of actor_sha256>``."""
        return f"{self.env_id} actor sha256:{self.actor_sha256[:16]}"

    def blob_warning(self, blob_meta: dict[str, Any], name: str) -> str | None:
        """Why a blob may not be a quantization of this actor (None: it is). Blobs record
        ``actor_sha256``; older ones only a ``source`` path or identity."""
        recorded = blob_meta.get("actor_sha256")
        if not isinstance(recorded, str):
            source = str(blob_meta.get("source", ""))
            if source.startswith(f"{self.env_id} actor sha256:"):
                recorded = source.rsplit(":", 1)[1]
            else:
                return (f"{name}: actor unknown (the blob does not record the actor it was "
                        f"made from; cannot check that it is {self.path}'s)")
        if not self.actor_sha256.startswith(recorded):
            return (f"{name} was made from another actor (sha256 {recorded[:16]}) than "
                    f"{self.path}'s ({self.actor_sha256[:16]}): its % of float compares "
                    "different policies")
        return None


def actor_sha256(actor: FloatActor) -> str:
    """:attr:`ModelDir.actor_sha256` of an actor not (yet) in a folder."""
    digest = hashlib.sha256()
    for name, array in sorted(actor.to_arrays().items()):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    if any(a is not Activation.RELU for a in actor.activations):
        # ReLU-only actors hash as before, so their blobs keep their bytes
        digest.update(",".join(a.value for a in actor.activations).encode())
    return digest.hexdigest()


def save_model_dir(path: Path, actor: FloatActor, meta: dict[str, Any]) -> None:
    """Write ``actor.npz`` and ``meta.json`` into ``path`` (created if missing)."""
    path.mkdir(parents=True, exist_ok=True)
    meta = dict(meta)
    meta["format"] = ACTOR_FORMAT
    meta["output"] = actor.output
    meta["activations"] = [a.value for a in actor.activations]
    meta.pop("activation", None)  # the single-name field of older folders
    meta["obs_clip"] = None if math.isinf(actor.obs_clip) else actor.obs_clip
    meta["layer_sizes"] = actor.layer_sizes
    module_file = env_module_file(str(meta.get("env_id", "")))
    if module_file:
        meta["env_module_file"] = module_file
    tmp = path / (_ACTOR_FILE + ".tmp.npz")
    np.savez_compressed(tmp, **actor.to_arrays())  # type: ignore[arg-type]
    tmp.replace(path / _ACTOR_FILE)
    tmp_meta = path / (_META_FILE + ".tmp")
    tmp_meta.write_text(json.dumps(meta, indent=2, sort_keys=False) + "\n")
    tmp_meta.replace(path / _META_FILE)


def load_model_dir(path: Path | str) -> ModelDir:
    """Load and validate a model folder; every problem is a :class:`ModelFormatError`."""
    path = Path(path)
    if path.is_file():
        kind = "a .qhil blob" if path.suffix == ".qhil" else "a file"
        raise ModelFormatError(f"'{path}' is {kind}, not a model folder (a folder with "
                               "actor.npz and meta.json, e.g. models/Pendulum-v1)")
    if not path.is_dir():
        raise ModelFormatError(f"model folder '{path}' does not exist")
    meta_path, actor_path = path / _META_FILE, path / _ACTOR_FILE
    for p in (meta_path, actor_path):
        if not p.is_file():
            raise ModelFormatError(f"model folder '{path}' has no {p.name}")
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFormatError(f"{meta_path}: not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != ACTOR_FORMAT:
        raise ModelFormatError(f"{meta_path}: format is not '{ACTOR_FORMAT}'")
    for key in ("env_id", "algo", "output"):
        if key not in meta:
            raise ModelFormatError(f"{meta_path}: missing field '{key}'")
    try:
        with np.load(actor_path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except Exception as exc:  # zipfile, pickle and value errors all mean "corrupt"
        raise ModelFormatError(f"{actor_path}: cannot read ({exc})") from None
    clip = meta.get("obs_clip")
    names = meta.get("activations")
    if names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise ModelFormatError(f"{meta_path}: 'activations' must be a list of names")
    activations = tuple(Activation.parse(n) for n in names or ())
    actor = FloatActor.from_arrays(arrays, math.inf if clip is None else float(clip), meta["output"],
                                   activations)
    _check_env_module(meta, meta_path)
    return ModelDir(path=path, actor=actor, meta=meta)


def _check_env_module(meta: dict[str, Any], meta_path: Path) -> None:
    """A model of a user's env factory needs its module importable here: say where it was."""
    name, _ = parse_env_reference(str(meta["env_id"]))
    module_name, sep, _ = name.partition(":")
    recorded = meta.get("env_module_file")
    if not sep or not isinstance(recorded, str) or env_module_file(name) is not None:
        return
    raise ModelFormatError(f"{meta_path}: the env module '{module_name}' does not import here; "
                           f"it was {recorded} when the model was made: run from "
                           f"{Path(recorded).parent} or add it to PYTHONPATH")
