"""Shared fixtures: repository paths, shipped models, and small SB3 models trained on the spot."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "models"


def shipped_model_dirs() -> list[Path]:
    return sorted(p for p in MODELS.glob("*") if (p / "meta.json").is_file())


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(autouse=True)
def _mujoco_log_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # mujoco writes MUJOCO_LOG.TXT into the working directory on warnings.
    monkeypatch.chdir(tmp_path)
