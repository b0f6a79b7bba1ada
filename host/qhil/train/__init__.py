"""Float baselines trained with stable-baselines3, exported as numpy actors."""

from qhil.train.extract import extract_actor
from qhil.train.train import ALGOS, Args, train

__all__ = ["ALGOS", "Args", "extract_actor", "train"]
