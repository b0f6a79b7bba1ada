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

__all__ = ["QuantPolicy", "quantize_obs", "dequantize_action"]


def quantize_obs(model: QuantModel, obs: np.ndarray) -> np.ndarray:
    """Raw observation(s) ``[..., obs_dim]`` to int64 input codes (saturating).

    ``code = clamp(round_half_away((obs - centre) / step), -Q, Q)``, ``Q = 2**(in-1) - 1``,
    computed in float64 from the blob's float32 centre and step.

    :raises QhilError: on NaN or infinite observations (a broken sensor, not a saturation)
    """
    obs = np.asarray(obs, dtype=np.float64)
    if obs.shape[-1] != model.obs_dim:
        raise QhilError(f"observation has {obs.shape[-1]} features, the model expects "
                        f"{model.obs_dim}")
    if not np.all(np.isfinite(obs)):
        bad = np.argwhere(~np.isfinite(obs))[0]
        raise QhilError(f"observation holds NaN/inf at index {tuple(int(i) for i in bad)}")
    center = model.in_center.astype(np.float64)
    step = model.in_step.astype(np.float64)
    q = model.in_limit
    return np.clip(round_half_away((obs - center) / step), -q, q).astype(np.int64)


def dequantize_action(model: QuantModel, codes: np.ndarray) -> np.ndarray:
    """Device action code(s) to env action(s) (float64)."""
    codes = np.asarray(codes, dtype=np.float64)
    low = model.action_low.astype(np.float64)
    high = model.action_high.astype(np.float64)
    if model.output == "tanh":
        y = codes / ((1 << (model.out_bits - 1)) - 1)
        return low + 0.5 * (y + 1.0) * (high - low)
    return np.clip(codes * model.out_scale, low, high)


class QuantPolicy:
    """The golden integer policy as an ``obs -> action`` callable."""

    def __init__(self, model: QuantModel) -> None:
        self.model = model
        self.executor = GoldenExecutor(model)

    def codes(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Input codes and action codes for observation(s)."""
        x = quantize_obs(self.model, obs)
        return x, self.executor.action_codes(x)

    def act(self, obs: np.ndarray) -> np.ndarray:
        return dequantize_action(self.model, self.codes(obs)[1])
