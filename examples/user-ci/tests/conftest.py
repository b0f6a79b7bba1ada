"""The model is trained once per session by the project's own script (a few seconds)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def model_dir() -> Path:
    out = HERE / "build" / "model"
    if not (out / "actor.npz").exists():
        subprocess.run([sys.executable, str(HERE / "train_policy.py"), str(out)], check=True)
    return out
