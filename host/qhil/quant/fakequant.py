"""Fake-quantized actor in torch: the float simulation of the integer policy.

Rounding and saturation happen at exactly the points ``docs/quantization.md`` puts them
(input codes, per-channel weight codes, int32 biases, each layer's output codes through
the very fixed-point multiplier ``m / 2**n`` the device uses, the tanh tables), with
straight-through gradients so quantization-aware training can train through them. In
float64 the only difference from the golden executor is the float rounding of
``acc * m / 2**n`` (a 62-bit product), which can flip a code by one step when the value
sits within ~1e-13 of a rounding tie.

Weight scales follow the current weights (recomputed, not learned, each forward); input
scales are the fixed :class:`~qhil.quant.ptq.QuantParams`. Hidden activation scales are
fixed too, or learned (``learn_scales``, LSQ-style: the step of each hidden layer is a
parameter, and the straight-through gradient tells it whether clipping more or rounding
more coarsely costs less); :meth:`FakeQuantActor.quant_params` gives the scales to export.
:meth:`FakeQuantActor.export` goes through :func:`~qhil.quant.ptq.build_quant_model`, so an
exported blob holds exactly the weights that were trained.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from qhil.common.actor import Activation, FloatActor
from qhil.quant.config import BitConfig
from qhil.quant.ptq import QuantParams, build_quant_model, hidden_table, quantize_weights
from qhil.quant.qmodel import QuantModel, code_range, tanh_limit, weight_limit
from qhil.quant.requant import quantize_multipliers

__all__ = ["FakeQuantActor", "round_ste"]


def round_half_away(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.floor(torch.abs(x) + 0.5)


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """Round half away from zero forward, identity gradient backward."""
    return x + (round_half_away(x) - x).detach()


def _clamp_ste(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    # Gradient flows inside the range only (the usual clipped straight-through estimator).
    return torch.clamp(x, lo, hi)


class FakeQuantActor(nn.Module):
    """A float actor whose forward pass reproduces the integer policy's rounding.

    Buffers: ``in_center``, ``in_step`` (input quantizer), ``obs_mean``, ``obs_std``
    (normalization folded into layer 0), ``fixed_act_scales`` (hidden activation steps) or,
    when ``learn_scales``, the parameter ``log_act_scales`` instead.

    :param actor: the float actor (initial weights, normalization, action bounds)
    :param params: input/activation/output scales from calibration
    :param bits: widths per layer
    :param dtype: ``torch.float64`` for checking against the golden model, ``float32`` to train
    :param learn_scales: train the hidden activation steps with the weights
    """

    def __init__(self, actor: FloatActor, params: QuantParams, bits: BitConfig,
                 dtype: torch.dtype = torch.float32, learn_scales: bool = False) -> None:
        super().__init__()
        self.in_center: torch.Tensor
        self.in_step: torch.Tensor
        self.obs_mean: torch.Tensor
        self.obs_std: torch.Tensor
        self.fixed_act_scales: torch.Tensor
        self.actor = actor
        self.params = params
        self.bits = bits
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.tensor(w, dtype=dtype)) for w in actor.weights])
        self.biases = nn.ParameterList(
            [nn.Parameter(torch.tensor(b, dtype=dtype)) for b in actor.biases])
        f = lambda a: torch.tensor(np.asarray(a, dtype=np.float64), dtype=dtype)  # noqa: E731
        self.register_buffer("in_center", f(params.in_center))
        self.register_buffer("in_step", f(params.in_step))
        self.register_buffer("obs_mean", f(actor.obs_mean))
        self.register_buffer("obs_std", f(actor.obs_std))
        self.learn_scales = learn_scales
        if learn_scales:
            # Learned in log space: Adam's steps are then relative, and a step stays positive.
            self.log_act_scales = nn.Parameter(torch.log(f(params.act_scales)))
        else:
            self.register_buffer("fixed_act_scales", f(params.act_scales))
        self.out_scale = float(params.out_scale)
        # tanh hidden layers: fixed index step and the exact table the export will write
        self.tables: dict[int, tuple[float, torch.Tensor]] = {}
        for i, act in enumerate(actor.activations):
            if act is Activation.TANH:
                step = params.table_scale(i)
                table = torch.tensor(hidden_table(bits.a[i], step).astype(np.float64), dtype=dtype)
                self.tables[i] = (step, table)
        self.in_limit = float((1 << (bits.in_bits - 1)) - 1)
        self.out_limit = float((1 << (bits.out_bits - 1)) - 1)

    @property
    def act_scales(self) -> torch.Tensor:
        """Each hidden layer's code step (a tanh layer's stays ``1 / (2**(A-1) - 1)``)."""
        scales = torch.exp(self.log_act_scales) if self.learn_scales else self.fixed_act_scales
        if self.learn_scales and self.tables:
            fixed = torch.zeros_like(scales, dtype=torch.bool)
            fixed[list(self.tables)] = True
            scales = torch.where(fixed, self.fixed_tanh_scales(scales), scales)
        return scales

    def fixed_tanh_scales(self, like: torch.Tensor) -> torch.Tensor:
        return torch.tensor([float(s) for s in self.params.act_scales], dtype=like.dtype,
                            device=like.device)

    def quant_params(self) -> QuantParams:
        """The scales to export: calibration's, with the learned hidden activation steps
        (computed in float64, as :meth:`layer_codes` sees them in a float64 actor)."""
        if not self.learn_scales:
            return self.params
        scales = torch.exp(self.log_act_scales.detach().cpu().double()).tolist()
        for i in self.tables:  # a tanh layer's code step is fixed by its width
            scales[i] = self.params.act_scales[i]
        return dataclasses.replace(self.params, act_scales=scales)

    def input_codes(self, obs: torch.Tensor) -> torch.Tensor:
        x = (obs - self.in_center) / self.in_step
        return _clamp_ste(round_ste(x), -self.in_limit, self.in_limit)

    def _folded(self, i: int, act_scales: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w, b = self.weights[i], self.biases[i]
        if i == 0:
            step = self.in_step / self.obs_std
            offset = (self.in_center - self.obs_mean) / self.obs_std
            return w * step[None, :], b + w @ offset
        return w * act_scales[i - 1], b

    def layer_codes(self, obs: torch.Tensor) -> list[torch.Tensor]:
        """Every layer's output codes (float tensors holding integers)."""
        h = self.input_codes(obs)
        outs = []
        n = len(self.weights)
        act_scales = self.act_scales
        for i in range(n):
            w, b = self._folded(i, act_scales)
            _, scale_np = quantize_weights(w.detach().cpu().double().numpy(), self.bits.w[i],
                                           self.params.weight_method)
            scale = torch.tensor(scale_np, dtype=w.dtype, device=w.device)
            q = weight_limit(self.bits.w[i])
            w_codes = _clamp_ste(round_ste(w / scale[:, None]), -q, q)
            acc = h @ w_codes.T + round_ste(b / scale)  # accumulator units, int32 bias
            last = i == n - 1
            if i in self.tables:
                h = self._tanh_layer(i, acc, scale_np, w)
                outs.append(h)
                continue
            out_scale = self.out_scale if last else act_scales[i]
            step = self.out_scale if last else float(act_scales[i].detach())
            m, sh = quantize_multipliers(scale_np / step)
            mult = torch.tensor(m / np.exp2(sh), dtype=w.dtype, device=w.device)
            if not last and self.learn_scales:
                # The device's multiplier forward, d(scale / step) / d(step) backward.
                ratio = scale / out_scale
                mult = mult + (ratio - ratio.detach())
            relu = not last and self.actor.activations[i] is Activation.RELU
            lo, hi = code_range(self.bits.a[i], relu=relu)
            h = _clamp_ste(round_ste(acc * mult), lo, hi)
            outs.append(h)
        return outs

    def _tanh_layer(self, i: int, acc: torch.Tensor, scale_np: np.ndarray,
                    w: torch.Tensor) -> torch.Tensor:
        """Table index as the device computes it, then the table itself forward and
        ``Q_A tanh`` backward."""
        step, table = self.tables[i]
        table = table.to(acc.device)
        m, sh = quantize_multipliers(scale_np / step)
        mult = torch.tensor(m / np.exp2(sh), dtype=w.dtype, device=w.device)
        lo, hi = code_range(int(table.numel()).bit_length() - 1, relu=False)
        u = _clamp_ste(round_ste(acc * mult), lo, hi)
        smooth = tanh_limit(self.bits.a[i]) * torch.tanh(u * step)
        exact = table[(u.detach() - lo).long()]
        return smooth + (exact - smooth).detach()

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Policy output in policy units: quantized ``tanh`` in [-1, 1], or the linear output."""
        u = self.layer_codes(obs)[-1]
        if self.actor.output == "tanh":
            return round_ste(self.out_limit * torch.tanh(u * self.out_scale)) / self.out_limit
        return u * self.out_scale

    def action_codes(self, obs: torch.Tensor) -> torch.Tensor:
        """The device's answer as simulated: tanh-table codes or the last layer's codes."""
        u = self.layer_codes(obs)[-1]
        if self.actor.output == "tanh":
            return round_half_away(self.out_limit * torch.tanh(u * self.out_scale))
        return u

    def export(self, env_id: str = "") -> QuantModel:
        """The integer model of the current weights (what the device will run)."""
        ws = [w.detach().cpu().double().numpy() for w in self.weights]
        bs = [b.detach().cpu().double().numpy() for b in self.biases]
        return build_quant_model(self.actor, self.quant_params(), self.bits, env_id, ws, bs)
