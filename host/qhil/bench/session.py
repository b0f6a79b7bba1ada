"""A device that keeps a bench going: it survives resets, silence and dead emulators.

The bench talks to a :class:`DeviceSession` instead of a bare :class:`Device`. When a
request fails for good (no valid answer after the link's retries), or the device answers
that it has no model (it was reset), the session finds out what happened and repairs it:

1. the device still answers HELLO: reload the model if it lost it;
2. it does not: restart the target (kill and start QEMU or the native process again,
   reopen a board's port) and reload the model;

then the same request is sent again. Requests are idempotent (an inference has no state
on the device), so a retried step gives the answer the step would have had. Each repair
is an *incident* in the report; a run with incidents is complete, not clean.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from qhil.common.errors import DeviceError, LinkError, QhilError
from qhil.link.device import Device, LoadInfo
from qhil.link.framing import ErrorCode, LoadPrep
from qhil.quant.blob import blob_id
from qhil.targets.drivers import Target
from qhil.targets.info import WeightsIn

__all__ = ["DeviceSession"]

LOG = logging.getLogger(__name__)
T = TypeVar("T")


class DeviceSession:
    """The bench's view of a target.

    :param max_repairs: repairs allowed for one request before the run gives up
    :param prep: what the kernel may make at load (``--widen-weights``, ``--compact-load``)
    :param weights_in: FLASH: a model is not uploaded but built into the target's firmware,
        which is restarted with it (``--weights-in flash``)
    """

    def __init__(self, target: Target, max_repairs: int = 3, prep: LoadPrep = LoadPrep.STORED,
                 weights_in: WeightsIn = WeightsIn.RAM) -> None:
        self.target = target
        self.max_repairs = max_repairs
        self.prep = prep
        self.weights_in = weights_in
        self.incidents: list[dict[str, Any]] = []
        self._blob: bytes | None = None
        self.where: dict[str, Any] = {}  # the step being run, for incident records

    @property
    def device(self) -> Device:
        return self.target.device

    def load(self, blob: bytes) -> LoadInfo:
        """Make ``blob`` the active model the way every command does
        (:meth:`~qhil.targets.drivers.Target.put_model`), with repairs."""
        self._blob = blob
        return self._call(lambda _: self.target.put_model(blob, prep=self.prep,
                                                           weights_in=self.weights_in), "LOAD")

    def infer(self, codes: np.ndarray) -> tuple[np.ndarray, int]:
        return self._call(lambda dev: dev.infer(codes), "INFER")

    def infer_f32(self, z: np.ndarray) -> tuple[np.ndarray, int]:
        return self._call(lambda dev: dev.infer_f32(z), "INFER")

    def layer_costs(self, codes: np.ndarray) -> tuple[list[int], np.ndarray]:
        return self._call(lambda dev: dev.layer_costs(codes), "LAYERS")

    def _call(self, fn: Callable[[Device], T], what: str) -> T:
        for repair in range(self.max_repairs + 1):
            try:
                return fn(self.device)
            except DeviceError as exc:
                if exc.code != ErrorCode.NO_MODEL or self._blob is None or what == "LOAD":
                    raise
                problem = "device lost its model (reset)"
            except LinkError as exc:
                problem = f"no answer: {exc}"
            if repair == self.max_repairs:
                break
            self._repair(problem, what)
        raise QhilError(f"the device could not be brought back after {self.max_repairs} "
                        f"repairs ({what} at {self._where_text()}); results so far are saved")

    def _repair(self, problem: str, what: str) -> None:
        t0 = time.monotonic()
        try:
            action = self._bring_back(what)
        except QhilError as exc:
            # recorded too: the run stops here, and its report says why
            self._record(problem, what, f"repair failed: {exc}", t0)
            raise QhilError(f"the device could not be brought back ({what} at "
                            f"{self._where_text()}): {exc}; results so far are saved") from None
        self._record(problem, what, action, t0)

    def _bring_back(self, what: str) -> str:
        action = "reloaded the model"
        try:
            self.device.hello(wait=0.5)
        except LinkError:
            action = "restarted the target"
            self.target.restart()
        if self._blob is not None and what != "LOAD":
            if self._model_id() != blob_id(self._blob):
                self.target.put_model(self._blob, prep=self.prep, weights_in=self.weights_in)
            else:
                action = "resent the request" if action == "reloaded the model" else action
        return action

    def _record(self, problem: str, what: str, action: str, t0: float) -> None:
        incident = {**self.where, "request": what, "problem": problem, "action": action,
                    "seconds": round(time.monotonic() - t0, 3)}
        self.incidents.append(incident)
        LOG.warning("incident at %s: %s; %s", self._where_text(), problem, action)

    def _model_id(self) -> int | None:
        try:
            return self.device.stats()["model_id"]
        except QhilError:
            return None

    def _where_text(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in self.where.items()) or "start"
