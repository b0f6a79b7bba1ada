"""Read an MLP actor from an ONNX file (``qhil import --onnx``), node by node.

The graph must be one chain from its single input to its single output, made of:

- ``Gemm`` (``transA = 0``) or ``MatMul`` by a constant, optionally followed by ``Add`` of a
  constant: a fully connected layer;
- ``Relu``, ``Tanh`` after a layer (its activation), ``Identity`` anywhere;
- ``Flatten`` or ``Reshape`` that keep ``[batch, features]``;
- at the end, after the last layer: ``Tanh`` (the output), then ``Mul``/``Add`` by constants
  (an affine action scaling, e.g. CleanRL's ``action_scale``/``action_bias``), or
  ``Clip`` by constants for a linear output. ``Mul``/``Add`` right after a layer without
  activation fold into it.

Constants are initializers or ``Constant`` nodes. Anything else is refused, naming the first
unsupported node. The output convention follows stable-baselines3: a network ending in Tanh
without its own scaling is rescaled to the env's action bounds; one ending in a linear layer
is clipped to them (or to its own Clip).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qhil.common.actor import Activation, FloatActor
from qhil.common.errors import ConfigError, ModelFormatError

__all__ = ["OnnxActor", "read_onnx_actor", "SUPPORTED_OPS"]

SUPPORTED_OPS = ("Gemm", "MatMul", "Add", "Mul", "Relu", "Tanh", "Identity", "Clip", "Flatten",
                 "Reshape", "Constant")


@dataclass
class _Layer:
    weight: np.ndarray  # [out, in], float64
    bias: np.ndarray
    act: Activation | None = None  # None: nothing applied yet


@dataclass
class OnnxActor:
    """What the graph computes, as layers and an output stage."""

    layers: list[_Layer] = field(default_factory=list)
    tanh_output: bool = False
    scale: np.ndarray | None = None  # affine after the output Tanh
    offset: np.ndarray | None = None
    clip: tuple[np.ndarray, np.ndarray] | None = None
    input_name: str = ""
    batch_dynamic: bool = True

    def to_actor(self, env_low: np.ndarray, env_high: np.ndarray) -> FloatActor:
        """The float actor; action bounds from the graph's own scaling or clip, else the env's."""
        if not self.layers:
            raise ConfigError("the ONNX graph has no fully connected layer")
        if self.layers[-1].act is Activation.RELU:
            raise ConfigError("the ONNX graph's action layer ends in Relu; qhil's outputs are "
                              "tanh or linear")
        act_dim = self.layers[-1].weight.shape[0]
        low, high = env_low, env_high
        if self.tanh_output and self.scale is not None:
            scale = np.broadcast_to(self.scale, (act_dim,)).astype(np.float64)
            offset = np.broadcast_to(self.offset if self.offset is not None else 0.0, (act_dim,))
            if np.any(scale <= 0):
                raise ConfigError("the ONNX graph scales its tanh output by a non-positive factor")
            low, high = offset - scale, offset + scale
        elif self.clip is not None:
            low = np.broadcast_to(self.clip[0], (act_dim,)).astype(np.float64)
            high = np.broadcast_to(self.clip[1], (act_dim,)).astype(np.float64)
        hidden = [layer.act or Activation.IDENTITY for layer in self.layers[:-1]]
        n_in = self.layers[0].weight.shape[1]
        return FloatActor(tuple(la.weight.astype(np.float32) for la in self.layers),
                          tuple(la.bias.astype(np.float32) for la in self.layers),
                          np.zeros(n_in), np.ones(n_in), math.inf, np.asarray(low, np.float64),
                          np.asarray(high, np.float64), "tanh" if self.tanh_output else "clip",
                          tuple(hidden))


class _Walker:
    def __init__(self, graph: object) -> None:
        from onnx import numpy_helper

        self.graph = graph
        self.consts: dict[str, np.ndarray] = {
            init.name: numpy_helper.to_array(init).astype(np.float64)
            for init in graph.initializer}  # type: ignore[attr-defined]
        self.actor = OnnxActor()

    def const(self, name: str, node: object) -> np.ndarray:
        if name not in self.consts:
            raise ConfigError(f"node {_describe(node)}: input '{name}' is not a constant")
        return self.consts[name]

    def walk(self) -> OnnxActor:
        from onnx import helper, numpy_helper

        graph = self.graph
        inputs = [i for i in graph.input if i.name not in self.consts]  # type: ignore[attr-defined]
        if len(inputs) != 1 or len(graph.output) != 1:  # type: ignore[attr-defined]
            raise ConfigError(f"the ONNX graph must have one input and one output, it has "
                              f"{len(inputs)} and {len(graph.output)}")  # type: ignore[attr-defined]
        dims = inputs[0].type.tensor_type.shape.dim
        self.actor.input_name = inputs[0].name
        self.actor.batch_dynamic = not (dims and dims[0].HasField("dim_value"))
        current = inputs[0].name
        a = self.actor
        for node in graph.node:  # type: ignore[attr-defined]
            op = node.op_type
            attrs = {at.name: helper.get_attribute_value(at) for at in node.attribute}
            if op == "Constant":
                value = attrs.get("value")
                if value is None:
                    raise ConfigError(f"node {_describe(node)}: only tensor constants are supported")
                self.consts[node.output[0]] = numpy_helper.to_array(value).astype(np.float64)
                continue
            if op not in SUPPORTED_OPS:
                raise ConfigError(f"unsupported ONNX node {_describe(node)}; qhil reads "
                                  f"{', '.join(SUPPORTED_OPS)}")
            data = [n for n in node.input if n == current]
            if not data:
                raise ConfigError(f"node {_describe(node)} does not continue the chain from "
                                  f"'{current}'")
            others = [n for n in node.input if n != current and n]
            finished = a.tanh_output or a.clip is not None
            if op in ("Identity", "Flatten", "Reshape"):
                pass
            elif op in ("Gemm", "MatMul"):
                if finished:
                    raise ConfigError(f"node {_describe(node)}: a layer after the output stage")
                a.layers.append(self.linear(op, node, attrs, others))
            elif op in ("Relu", "Tanh"):
                if not a.layers or a.layers[-1].act is not None or finished:
                    raise ConfigError(f"node {_describe(node)}: {op} must follow a layer")
                a.layers[-1].act = Activation.RELU if op == "Relu" else Activation.TANH
            elif op in ("Add", "Mul"):
                self.affine(op, node, self.const(others[0], node) if others else None)
            elif op == "Clip":
                if not a.layers or a.layers[-1].act is not None or finished:
                    raise ConfigError(f"node {_describe(node)}: Clip only after the last layer")
                lo = self.const(node.input[1], node) if len(node.input) > 1 and node.input[1] else None
                hi = self.const(node.input[2], node) if len(node.input) > 2 and node.input[2] else None
                lo = np.asarray(attrs.get("min", -np.inf) if lo is None else lo, np.float64)
                hi = np.asarray(attrs.get("max", np.inf) if hi is None else hi, np.float64)
                if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
                    raise ConfigError(f"node {_describe(node)}: Clip needs finite bounds")
                a.clip = (lo, hi)
            current = node.output[0]
        if current != graph.output[0].name:  # type: ignore[attr-defined]
            raise ConfigError("the ONNX graph's output is not the end of its chain")
        # a final Tanh on the last layer is the tanh output, not a hidden activation
        if a.layers and a.layers[-1].act is Activation.TANH:
            a.layers[-1].act = None
            a.tanh_output = True
        return a

    def linear(self, op: str, node: object, attrs: dict[str, object],
               others: list[str]) -> _Layer:
        inputs = list(node.input)  # type: ignore[attr-defined]
        if op == "MatMul":
            if len(inputs) != 2 or inputs[1] != others[0]:
                raise ConfigError(f"node {_describe(node)}: MatMul must multiply the data by a "
                                  "constant on the right")
            w = self.const(others[0], node)  # [in, out]
            return _Layer(np.asarray(w, np.float64).T.copy(), np.zeros(w.shape[1]))
        if attrs.get("transA", 0) or inputs[0] == others[0]:
            raise ConfigError(f"node {_describe(node)}: Gemm must take the data as A, untransposed")
        b = self.const(others[0], node)
        b_prime = b.T if attrs.get("transB", 0) else b  # [in, out]
        w = float(attrs.get("alpha", 1.0)) * np.asarray(b_prime, np.float64).T  # type: ignore[arg-type]
        bias = (float(attrs.get("beta", 1.0)) * self.const(others[1], node)  # type: ignore[arg-type]
                if len(others) > 1 else np.zeros(w.shape[0]))
        return _Layer(w, np.broadcast_to(bias, (w.shape[0],)).astype(np.float64))

    def affine(self, op: str, node: object, value: np.ndarray | None) -> None:
        a = self.actor
        if value is None:
            raise ConfigError(f"node {_describe(node)}: {op} needs a constant operand")
        if a.tanh_output or (a.layers and a.layers[-1].act is Activation.TANH and a.clip is None):
            # after the (so far presumed hidden) Tanh of the last layer: the output scaling
            if a.layers[-1].act is Activation.TANH:
                a.layers[-1].act = None
                a.tanh_output = True
            if op == "Mul":
                if a.offset is not None:
                    a.offset = a.offset * value
                a.scale = value if a.scale is None else a.scale * value
            else:
                a.offset = value if a.offset is None else a.offset + value
                if a.scale is None:
                    a.scale = np.ones_like(value)
            return
        if not a.layers or a.layers[-1].act is not None or a.clip is not None:
            raise ConfigError(f"node {_describe(node)}: {op} by a constant must follow a layer "
                              "(without activation) or the output Tanh")
        layer = a.layers[-1]
        vec = np.broadcast_to(value, (layer.weight.shape[0],)).astype(np.float64)
        if op == "Mul":
            layer.weight = layer.weight * vec[:, None]
            layer.bias = layer.bias * vec
        else:
            layer.bias = layer.bias + vec


def _describe(node: object) -> str:
    name = getattr(node, "name", "") or "(unnamed)"
    return f"{getattr(node, 'op_type', '?')} '{name}'"


def read_onnx_actor(path: Path) -> OnnxActor:
    """Parse ``path`` with the ``onnx`` package (checked by its checker first)."""
    try:
        import onnx
    except ImportError:
        raise ConfigError("qhil import --onnx needs the onnx package: pip install 'qhil[onnx]'") from None
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except FileNotFoundError:
        raise ModelFormatError(f"ONNX file '{path}' does not exist") from None
    except Exception as exc:  # the checker and protobuf raise many types
        raise ModelFormatError(f"{path}: not a valid ONNX model ({str(exc).splitlines()[0]})") from None
    return _Walker(model.graph).walk()
