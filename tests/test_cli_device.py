"""The device-facing commands: devices, run, flash (native target, real firmware)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qhil.cli.main import main

PENDULUM = Path(__file__).resolve().parents[1] / "models" / "Pendulum-v1"


def test_devices_lists_targets(capsys) -> None:
    assert main(["devices", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    names = {t["name"] for t in data["targets"]}
    assert {"native", "qemu-m0", "qemu-m4", "qemu-stm32f4", "nucleo-f446re"} <= names
    assert isinstance(data["ports"], list)


@pytest.mark.parametrize("blob_name", ["qat_w3.qhil"])
def test_run_one_inference_bit_exact(blob_name: str, capsys) -> None:
    assert main(["run", "--target", "native", "--blob", str(PENDULUM / blob_name),
                 "--obs", "1,0,0.5", "--bench", "5", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["bit_exact"] is True and result["cost_unit"] == "ns"
    assert result["bench"]["repeats"] == 5 and -2.0 <= result["action"][0] <= 2.0


def test_run_float32_blob(tmp_path: Path, capsys) -> None:
    blob = tmp_path / "f32.qhil"
    assert main(["quantize", "--model", str(PENDULUM), "--float32", "-o", str(blob)]) == 0
    capsys.readouterr()
    assert main(["run", "--target", "native", "--blob", str(blob), "--obs", "1,0,0.5",
                 "--json"]) == 0
    assert "device_output" in json.loads(capsys.readouterr().out)


def test_run_rejects_bad_observation(capsys) -> None:
    assert main(["run", "--target", "native", "--blob", str(PENDULUM / "qat_w3.qhil"),
                 "--obs", "1,zero,0.5"]) == 2
    assert "is not a list of numbers" in capsys.readouterr().err


def test_flash_builds_an_emulator_target(capsys) -> None:
    assert main(["flash", "--target", "qemu-m4"]) == 0
    assert "program.elf" in capsys.readouterr().out


def test_flash_checks_the_upload_tool_before_building(capsys, monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # no openocd, no gdb-multiarch
    for protocol in ("openocd", "gdb-server"):
        assert main(["flash", "--target", "nucleo-f446re", "--upload-protocol", protocol]) == 2
        err = capsys.readouterr()
        program = "openocd" if protocol == "openocd" else "gdb-multiarch"
        assert f"{program} is not installed" in err.err and "building" not in err.out + err.err


def test_run_bench_outside_the_protocol_limit_is_a_usage_error(capsys) -> None:
    for count in ("-5", "1001"):
        with pytest.raises(SystemExit) as exc:
            main(["run", "--target", "native", "--blob", str(PENDULUM / "qat_w3.qhil"), "--obs", "1,0,0.5",
                  "--bench", count])
        assert exc.value.code == 2 and "must be in 1..1000" in capsys.readouterr().err



def test_bench_says_what_it_does_from_the_first_second(tmp_path, caplog) -> None:
    """Calibration, firmware build and target start take seconds before the first
    episode: each is announced as it begins."""
    caplog.set_level("INFO", logger="qhil")
    assert main(["bench", "--model", str(PENDULUM), "--target", "native", "--variants",
                 "int8", "--episodes", "1", "--calib-episodes", "2", "-o",
                 str(tmp_path / "b")]) == 0
    said = [r.getMessage() for r in caplog.records if r.name.startswith("qhil")]
    steps = ("loading ", "building firmware native", "starting native", "preflight")
    positions = [next(i for i, m in enumerate(said) if m.startswith(s)) for s in steps]
    assert positions == sorted(positions), said
