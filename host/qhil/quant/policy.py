"""A quantized policy on the host: float observation -> integer codes -> env action.

The two float conversions here are the "sensor" and "actuator" of the device: the input
quantizer turns a raw observation into the codes a device receives (as an ADC would), and
the output dequantizer turns the device's action code into the env's action.
"""

from __future__ import annotations

import numpy as np

from qhil.common.errors import QhilError
from qhil.quant.golden import GoldenExecutor
from qhil.quant.qmodel import QuantModel
from qhil.quant.requant import round_half_away

__all__ = ["QuantPolicy", "ObservationQuantizer", "ActionDecoder", "quantize_obs",
           "dequantize_action"]


class ObservationQuantizer:
    """The "ADC": raw observation(s) ``[..., obs_dim]`` to int64 input codes (saturating).

    ``code = clamp(round_half_away((obs - centre) / step), -Q, Q)``, ``Q = 2**(in-1) - 1``,
    computed in float64 from the blob's float32 centre and step. The conversions are done
    once here: the closed loop calls this every control step.

    The tflite arithmetic quantizes as TFLite's QUANTIZE does: ``clamp(round_half_away(
    float32(obs) / scale) + zero, -128, 127)``, the division in float32.
    """

    def __init__(self, model: QuantModel) -> None:
        self.obs_dim = model.obs_dim
        self.center = model.in_center.astype(np.float64)
        self.step = model.in_step.astype(np.float64)
        self.limit = model.in_limit
        self.tflite = model.arithmetic == "tflite"
        self.scale32 = model.in_step[:1].astype(np.float32)
        self.zero = int(model.in_center[0])

    def checked(self, obs: np.ndarray) -> np.ndarray:
        """:meth:`__call__` after checking the size and that every value is finite.

        :raises QhilError: on a wrong size or NaN/inf (a broken sensor, not a saturation)
        """
        obs = np.asarray(obs, dtype=np.float64)
        if obs.shape[-1] != self.obs_dim:
            raise QhilError(f"observation has {obs.shape[-1]} features, the model expects "
                            f"{self.obs_dim}")
        if not np.all(np.isfinite(obs)):
            bad = np.argwhere(~np.isfinite(obs))[0]
            raise QhilError(f"observation holds NaN/inf at index {tuple(int(i) for i in bad)}")
        return self(obs)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        if self.tflite:
            q = np.asarray(obs).astype(np.float32) / self.scale32
            r = round_half_away(q.astype(np.float64)) + self.zero
            return np.maximum(np.minimum(r, 127), -128).astype(np.int64)
        r = round_half_away((obs - self.center) / self.step)
        # minimum/maximum: np.clip costs several times more on a few elements
        return np.maximum(np.minimum(r, self.limit), -self.limit).astype(np.int64)


class ActionDecoder:
    """The "DAC": device action code(s) to env action(s) (float64).

    ``tanh``: ``low + (code / Q_out + 1)/2 * (high - low)``; ``clip``: ``clip((code - zero)
    * out_scale, low, high)``; ``rescale`` (tflite): ``y = (code - zero) * out_scale``
    mapped from [-1, 1] to the bounds as ``tanh`` maps ``code / Q_out``. ``zero`` is 0
    for qhil's arithmetic.
    """

    def __init__(self, model: QuantModel) -> None:
        self.low = model.action_low.astype(np.float64)
        self.span = model.action_high.astype(np.float64) - self.low
        self.high = model.action_high.astype(np.float64)
        self.output = model.output
        self.code_max = float((1 << (model.out_bits - 1)) - 1)
        self.out_scale = float(model.out_scale)
        self.zero = float(model.out_zero)

    def __call__(self, codes: np.ndarray) -> np.ndarray:
        c = np.asarray(codes, dtype=np.float64)
        if self.output == "tanh":
            return self.low + 0.5 * (c / self.code_max + 1.0) * self.span
        y = (c - self.zero) * self.out_scale
        if self.output == "rescale":
            return self.low + 0.5 * (np.clip(y, -1.0, 1.0) + 1.0) * self.span
        return np.clip(y, self.low, self.high)


def quantize_obs(model: QuantModel, obs: np.ndarray) -> np.ndarray:
    """Raw observation(s) ``[..., obs_dim]`` to int64 input codes (see :class:`ObservationQuantizer`).

    :raises QhilError: on NaN or infinite observations (a broken sensor, not a saturation)
    """
    return ObservationQuantizer(model).checked(obs)


def dequantize_action(model: QuantModel, codes: np.ndarray) -> np.ndarray:
    """Device action code(s) to env action(s) (float64)."""
    return ActionDecoder(model)(codes)


class QuantPolicy:
    """The golden integer policy as an ``obs -> action`` callable."""

    def __init__(self, model: QuantModel) -> None:
        self.model = model
        self.executor = GoldenExecutor(model)
        self._quantize = ObservationQuantizer(model)
        self._decode = ActionDecoder(model)

    def codes(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Input codes and action codes for observation(s)."""
        x = self._quantize.checked(obs)
        return x, self.executor.action_codes(x)

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self._decode(self.codes(obs)[1])
