"""CLI behaviour: help texts, and bad input -> one clear line, exit 2, no traceback."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qhil.cli.main import SUBCOMMANDS, main
from qhil.common.actor import FloatActor
from qhil.common.model_dir import save_model_dir


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qhil.cli.main", *args], capture_output=True,
                          text=True, timeout=300)


def assert_clean_error(proc: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert fragment in lines[-1], proc.stderr


@pytest.fixture()
def tiny_model(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    ws = (rng.normal(size=(8, 3)).astype(np.float32), rng.normal(size=(1, 8)).astype(np.float32))
    bs = (np.zeros(8, np.float32), np.zeros(1, np.float32))
    actor = FloatActor(ws, bs, np.zeros(3), np.ones(3), np.inf, np.array([-2.0]),
                       np.array([2.0]), "tanh")
    save_model_dir(tmp_path / "m", actor, {"env_id": "Pendulum-v1", "algo": "td3"})
    return tmp_path / "m"


def test_every_subcommand_has_help(capsys) -> None:
    for module in SUBCOMMANDS:
        with pytest.raises(SystemExit) as exc:
            main([module.NAMES[0], "--help"])
        assert exc.value.code == 0
        out = capsys.readouterr().out
        assert "example:" in out and "default" in out.lower()


def test_unknown_env() -> None:
    assert_clean_error(run_cli("train", "--env", "Pendulum-v9", "--steps", "10"),
                       "unknown environment id 'Pendulum-v9' (did you mean Pendulum-v1")


def test_unknown_algo() -> None:
    assert_clean_error(run_cli("train", "--env", "Pendulum-v1", "--algo", "dqn", "--steps", "10"),
                       "unknown algo 'dqn'")


@pytest.mark.parametrize("argv", [
    ("train", "--env", "Pendulum-v1", "--steps", "0"),
    ("train", "--env", "Pendulum-v1", "--steps", "-5"),
    ("eval", "--model", "models/Pendulum-v1", "--episodes", "0"),
])
def test_non_positive_counts(argv) -> None:
    assert_clean_error(run_cli(*argv), "must be a positive integer")


def test_missing_model_folder(tmp_path: Path) -> None:
    assert_clean_error(run_cli("eval", "--model", str(tmp_path / "nope")), "does not exist")


def test_corrupt_meta(tiny_model: Path) -> None:
    (tiny_model / "meta.json").write_text("{not json")
    assert_clean_error(run_cli("eval", "--model", str(tiny_model)), "not valid JSON")


def test_corrupt_weights(tiny_model: Path) -> None:
    (tiny_model / "actor.npz").write_bytes(b"PK\x03\x04garbage")
    assert_clean_error(run_cli("eval", "--model", str(tiny_model)), "cannot read")


def test_missing_weights(tiny_model: Path) -> None:
    (tiny_model / "actor.npz").unlink()
    assert_clean_error(run_cli("eval", "--model", str(tiny_model)), "has no actor.npz")


def test_bad_bits(tiny_model: Path, tmp_path: Path) -> None:
    assert_clean_error(run_cli("quantize", "--model", str(tiny_model), "--bits", "w=9",
                               "-o", str(tmp_path / "x.qhil")), "outside 2..8")


def test_corrupt_blob(tmp_path: Path) -> None:
    bad = tmp_path / "bad.qhil"
    bad.write_bytes(b"QHIL" + b"\0" * 100)
    assert_clean_error(run_cli("eval", "--blob", str(bad)), "bad.qhil: format version 0")


def test_quantize_inspect_eval_round_trip(tiny_model: Path, tmp_path: Path) -> None:
    blob = tmp_path / "m.qhil"
    assert main(["quantize", "--model", str(tiny_model), "--bits", "w4a4", "--calib-episodes",
                 "2", "-o", str(blob)]) == 0
    assert main(["inspect", str(blob)]) == 0
    out = tmp_path / "e.json"
    assert main(["eval", "--model", str(tiny_model), "--blob", str(blob), "--episodes", "2",
                 "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["golden"]["episodes"] == 2 and "percent_of_float" in result
    header = tmp_path / "m.h"
    assert main(["export-c", str(blob), "-o", str(header)]) == 0
    assert "qhil_model_blob[QHIL_MODEL_BLOB_LEN]" in header.read_text()
    whole = tmp_path / "w.h"  # the host section and metadata too
    assert main(["export-c", str(blob), "-o", str(whole), "--full-blob"]) == 0
    length = re.compile(r"#define QHIL_MODEL_BLOB_LEN (\d+)u")
    image_len = int(length.findall(header.read_text())[0])
    assert image_len < int(length.findall(whole.read_text())[0]) == blob.stat().st_size


def test_eval_refuses_a_blob_of_another_env_before_any_episode() -> None:
    models = Path(__file__).resolve().parents[1] / "models"
    blob = models / "HalfCheetah-v5" / "qat_w3.qhil"
    proc = run_cli("eval", "--model", str(models / "Pendulum-v1"), "--blob", str(blob))
    assert_clean_error(proc, f"{blob} is for HalfCheetah-v5, not Pendulum-v1")
    assert "float" not in proc.stdout  # no float episode ran first
