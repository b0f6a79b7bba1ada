"""The student a QAT run starts from when its hidden widths differ from the teacher's.

Wider at the same depth: the teacher, widened without changing its function (Net2Net,
Chen et al. 2016). Each new unit copies an existing one (incoming weights and bias); the
copies of a unit then share its outgoing weights, split among them in random proportions
that sum to one, so the widened network computes exactly what the teacher computes while
the copies, whose outgoing weights differ, receive different gradients and part ways in
training. Activation ranges are those of the teacher, so its calibration holds.

Any other shape (narrower, deeper or shallower): fresh He-initialized weights with the
teacher's observation normalization, action bounds and hidden activation; distillation
alone teaches it, and calibration runs on the student itself.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np

from qhil.common.actor import FloatActor

__all__ = ["student_actor", "widen_actor"]

Init = Literal["teacher", "net2net", "random"]


def widen_actor(teacher: FloatActor, hidden: tuple[int, ...], seed: int = 0) -> FloatActor:
    """``teacher`` with its hidden layers widened to ``hidden`` (each at least as wide)."""
    weights = [np.asarray(w, np.float64).copy() for w in teacher.weights]
    biases = [np.asarray(b, np.float64).copy() for b in teacher.biases]
    if len(hidden) != len(weights) - 1:
        raise ValueError(f"widening keeps the depth: {len(weights) - 1} hidden layers, "
                         f"got {len(hidden)} widths")
    rng = np.random.default_rng(seed)
    for layer, width in enumerate(hidden):
        old = weights[layer].shape[0]
        if width < old:
            raise ValueError(f"hidden layer {layer} has {old} units; {width} would narrow it")
        source = np.concatenate([np.arange(old), rng.integers(0, old, width - old)])
        weights[layer] = weights[layer][source]
        biases[layer] = biases[layer][source]
        share = rng.uniform(0.5, 1.5, width)
        totals = np.bincount(source, weights=share, minlength=old)
        weights[layer + 1] = weights[layer + 1][:, source] * (share / totals[source])
    return dataclasses.replace(teacher, weights=tuple(w.astype(np.float32) for w in weights),
                               biases=tuple(b.astype(np.float32) for b in biases))


def random_actor(teacher: FloatActor, hidden: tuple[int, ...], seed: int = 0) -> FloatActor:
    """He-initialized weights of widths ``hidden``, the teacher's everything else."""
    rng = np.random.default_rng(seed)
    sizes = [teacher.weights[0].shape[1], *hidden, teacher.weights[-1].shape[0]]
    weights = tuple((rng.normal(size=(b, a)) * np.sqrt(2.0 / a)).astype(np.float32)
                    for a, b in zip(sizes, sizes[1:], strict=False))
    biases = tuple(np.zeros(b, np.float32) for b in sizes[1:])
    activations = ((teacher.activations[0],) * len(hidden)) if teacher.activations else ()
    return dataclasses.replace(teacher, weights=weights, biases=biases, activations=activations)


def student_actor(teacher: FloatActor, hidden: tuple[int, ...] | None,
                  seed: int = 0) -> tuple[FloatActor, Init]:
    """The student's starting float actor and how it was made."""
    own = tuple(w.shape[0] for w in teacher.weights[:-1])
    if hidden is None or hidden == own:
        return teacher, "teacher"
    if len(hidden) == len(own) and all(h >= o for h, o in zip(hidden, own, strict=True)):
        return widen_actor(teacher, hidden, seed), "net2net"
    return random_actor(teacher, hidden, seed), "random"
