"""The shipped trained actors: complete metadata, reproducible returns, small files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qhil.cli.main import main
from qhil.common.envs import SHIPPED_ENVS
from qhil.common.model_dir import load_model_dir

MODELS = Path(__file__).resolve().parents[1] / "models"
META_FIELDS = ("env_id", "algo", "net", "train", "versions", "eval")


def folder(env_id: str) -> Path:
    return MODELS / env_id.split("/")[-1]


def test_every_task_ships_a_model() -> None:
    missing = [env for env in SHIPPED_ENVS if not (folder(env) / "meta.json").is_file()]
    assert not missing, f"no trained actor for {missing}"


def test_models_folder_is_small() -> None:
    total = sum(p.stat().st_size for p in MODELS.rglob("*") if p.is_file())
    assert total < 5 * 1024 * 1024, f"models/ holds {total} bytes"


@pytest.mark.parametrize("env_id", SHIPPED_ENVS)
def test_metadata_is_complete(env_id: str) -> None:
    model = load_model_dir(folder(env_id))
    meta = model.meta
    for field in META_FIELDS:
        assert field in meta, field
    assert meta["env_id"] == env_id
    train = meta["train"]
    for field in ("steps", "seed", "hyperparameters", "wall_time_s", "curve"):
        assert field in train, field
    assert meta["versions"]["torch"].startswith("2.13.0")
    ev = meta["eval"]
    # the held-out protocol's test split (docs/evaluation.md)
    assert ev["episodes"] == 100 and ev["seeds"] == "100000..100099" and len(ev["returns"]) == 100
    assert len(ev["terminated"]) == 100 and ev["early_terminations"] == sum(ev["terminated"])
    assert ev["mean"] == pytest.approx(float(np.mean(ev["returns"])))
    assert model.actor.layer_sizes[1:-1] == meta["net"] == [64, 64]


@pytest.mark.parametrize("env_id", SHIPPED_ENVS)
def test_recorded_return_is_reproduced(env_id: str, tmp_path: Path) -> None:
    out = tmp_path / "eval.json"
    assert main(["-q", "eval", "--model", str(folder(env_id)), "--episodes", "3",
                 "--json", str(out)]) == 0
    got = json.loads(out.read_text())["float"]["returns"]
    recorded = load_model_dir(folder(env_id)).meta["eval"]["returns"][:3]
    np.testing.assert_allclose(got, recorded, rtol=1e-6, atol=1e-6)


QAT_EXPORTS = sorted(MODELS.glob("*/qat_*.qhil"))


@pytest.mark.parametrize("blob", QAT_EXPORTS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_shipped_qat_export_reproduces_its_recorded_test_return(blob: Path,
                                                                 tmp_path: Path) -> None:
    out = tmp_path / "eval.json"
    test = json.loads(blob.with_suffix(".json").read_text())["test"]
    assert test["episodes"] >= 100 and test["seeds"].startswith("100000..")  # the test split
    first = test["seeds"].split("..")[0]
    assert main(["-q", "eval", "--blob", str(blob), "--seeds", f"{first}..{int(first) + 1}",
                 "--json", str(out)]) == 0
    got = json.loads(out.read_text())["golden"]["returns"]
    np.testing.assert_allclose(got, test["returns"][:2], rtol=1e-9)
