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
from qhil.common.errors import ModelFormatError

__all__ = ["ModelDir", "load_model_dir", "save_model_dir", "ACTOR_FORMAT"]

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
    def identity(self) -> str:
        """What the model is, independent of where it lies or how its path was typed:
        ``<env_id> actor sha256:<first 16 hex digits of the actor's arrays>``. Blobs record
        this, so a blob's bytes depend on the model and the settings only."""
        digest = hashlib.sha256()
        for name, array in sorted(self.actor.to_arrays().items()):
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(array).tobytes())
        if any(a is not Activation.RELU for a in self.actor.activations):
            # ReLU-only actors hash as before, so their blobs keep their bytes
            digest.update(",".join(a.value for a in self.actor.activations).encode())
        return f"{self.env_id} actor sha256:{digest.hexdigest()[:16]}"


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
    tmp = path / (_ACTOR_FILE + ".tmp.npz")
    np.savez_compressed(tmp, **actor.to_arrays())  # type: ignore[arg-type]
    tmp.replace(path / _ACTOR_FILE)
    tmp_meta = path / (_META_FILE + ".tmp")
    tmp_meta.write_text(json.dumps(meta, indent=2, sort_keys=False) + "\n")
    tmp_meta.replace(path / _META_FILE)


def load_model_dir(path: Path | str) -> ModelDir:
    """Load and validate a model folder; every problem is a :class:`ModelFormatError`."""
    path = Path(path)
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
    return ModelDir(path=path, actor=actor, meta=meta)
