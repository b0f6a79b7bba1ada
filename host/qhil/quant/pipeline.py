"""Model folder -> calibrated quantized model: what ``qhil quantize`` and ``sweep-bits`` share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from qhil.common.actor import FloatActor
from qhil.common.envs import box_bounds, make_env
from qhil.common.model_dir import ModelDir
from qhil.common.settings import episode_count, setting
from qhil.quant.calibrate import RangeMethod, collect_observations
from qhil.quant.config import BitConfig
from qhil.quant.ptq import InputScale, QuantParams, WeightMethod, build_quant_model, choose_params
from qhil.quant.qmodel import QuantModel

__all__ = ["PTQOptions", "Calibrator"]

InputRange = Literal["minmax", "percentile"]


@dataclass(frozen=True)
class PTQOptions:
    """Post-training quantization choices (defaults are what the shipped exports use)."""

    calib_episodes: int = setting(20, parse=episode_count, help=(
        "noisy float-policy rollouts for calibration, seeds 20000.."))
    input_range: InputRange = setting("minmax", help="per-feature input range")
    act_range: RangeMethod = setting("percentile", help=(
        "activation range; percentile is 99.99 and switches to mse for widths <= 4 bits"))
    weights: WeightMethod = setting("mse", help="per-channel weight clipping")
    input_scale: InputScale = setting("feature", help=(
        "one input step per observation feature, or one for all"))


@dataclass
class Calibrator:
    """Collects calibration data once per model and quantizes it at any bit setting."""

    model: ModelDir
    options: PTQOptions = field(default_factory=PTQOptions)
    _observations: np.ndarray | None = None

    @property
    def observations(self) -> np.ndarray:
        if self._observations is None:
            self._observations = collect_observations(self.model.actor, self.model.env_id,
                                                      self.options.calib_episodes)
        return self._observations

    def params(self, bits: BitConfig, actor: FloatActor | None = None) -> QuantParams:
        """Scales for ``bits``, measured on ``actor`` (default: the model's own) over the
        model's calibration observations."""
        env = make_env(self.model.env_id)
        low, high = box_bounds(env.observation_space)
        env.close()
        o = self.options
        return choose_params(actor or self.model.actor, self.observations, bits, low, high,
                             input_method=o.input_range, act_method=o.act_range,
                             weight_method=o.weights, input_scale=o.input_scale)

    def quantize(self, bits: BitConfig) -> QuantModel:
        model = build_quant_model(self.model.actor, self.params(bits), bits, self.model.env_id)
        model.meta["source"] = self.model.identity
        model.meta["actor_sha256"] = self.model.actor_sha256
        model.meta["method"] = "ptq"
        return model
