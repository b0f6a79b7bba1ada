"""Shared building blocks: errors, env helpers, the float actor and model folders."""

from qhil.common.actor import FloatActor, OutputKind
from qhil.common.envs import SHIPPED_ENVS, check_env_id, make_env
from qhil.common.errors import (
    ConfigError,
    DeviceError,
    LinkError,
    ModelFormatError,
    QhilError,
)
from qhil.common.evaluation import EvalResult, evaluate_policy, percent_of_float
from qhil.common.model_dir import ModelDir, load_model_dir, save_model_dir

__all__ = [
    "FloatActor",
    "OutputKind",
    "SHIPPED_ENVS",
    "check_env_id",
    "make_env",
    "ConfigError",
    "DeviceError",
    "LinkError",
    "ModelFormatError",
    "QhilError",
    "EvalResult",
    "evaluate_policy",
    "percent_of_float",
    "ModelDir",
    "load_model_dir",
    "save_model_dir",
]
