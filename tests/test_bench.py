"""The closed-loop bench on the real firmware (native pty), its report and its errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qhil.cli.main import main
from qhil.common.errors import ConfigError
from qhil.quant.blob import read_blob, write_blob
from qhil.quant.config import parse_bits
from qhil.quant.random_model import random_quant_model
from qhil.report.build import SCHEMA, load_report

PENDULUM = Path(__file__).resolve().parents[1] / "models" / "Pendulum-v1"


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("bench")
    code = main(["-q", "bench", "--model", str(PENDULUM), "--target", "native",
                 "--variants", "float,device-f32,int8,w3a3", "--episodes", "2",
                 "--noise", "0,0.1", "--calib-episodes", "3", "-o", str(out)])
    assert code == 0
    assert (out / "summary.md").read_text().startswith("# qhil bench: Pendulum-v1 on native")
    return load_report(out / "report.json")


def test_report_schema_and_provenance(report) -> None:
    assert report["schema"] == SCHEMA and report["env_id"] == "Pendulum-v1"
    assert report["seeds"] == [100_000, 100_001]  # the test split by default
    assert report["control_period_s"] == pytest.approx(0.05)
    assert report["target"]["board"] == "native" and report["target"]["cost_unit"] == "ns"
    assert {"torch", "gymnasium", "numpy"} <= set(report["versions"])
    assert [v["name"] for v in report["variants"]] == ["float", "device-f32", "int8", "w3a3"]
    for v in report["variants"]:  # the native build's portable kernel copies nothing
        blob, arena = v["sizes"]["device_bytes"], v["sizes"]["arena_bytes"]
        if blob is None:
            assert arena is None
            continue
        assert arena == (blob + 3) // 4 * 4  # the device image: no host section, no metadata
        assert v["sizes"]["blob_bytes"] > blob


def test_every_device_step_was_checked_bit_exact(report) -> None:
    for v in report["variants"]:
        if v["kind"] == "device-int":
            # 2 clean + 2 noisy episodes of 200 steps, every one compared
            assert v["bit_exact"] == {"checked_steps": 800, "mismatches": 0, "examples": []}
            assert v["device_cost"]["median"] > 0 and v["latency_ms"]["p99"] > 0


def test_same_seeds_same_float_returns(report) -> None:
    by_name = {v["name"]: v for v in report["variants"]}
    float_returns = by_name["float"]["return"]["per_episode"]
    # the float policy on the device is the same policy: same returns up to float32 effects
    np.testing.assert_allclose(by_name["device-f32"]["return"]["per_episode"], float_returns,
                               rtol=0.02)
    assert by_name["device-f32"]["f32_max_abs_error"] < 1e-4
    assert by_name["float"]["percent_of_float"] == 100.0
    assert by_name["int8"]["percent_of_float"] > 90
    lo, hi = by_name["int8"]["percent_of_float_interval95"]  # paired over the 2 seeds
    assert lo <= by_name["int8"]["percent_of_float"] <= hi
    assert all(v["early_terminations"] == 0 for v in report["variants"])  # Pendulum: time limit
    assert "0.1" in by_name["int8"]["noise"]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qhil.cli.main", *args], capture_output=True,
                          text=True, timeout=300)


def test_unknown_variant_fails_before_running(tmp_path: Path) -> None:
    proc = run_cli("bench", "--model", str(PENDULUM), "--target", "native",
                   "--variants", "float,int7x", "-o", str(tmp_path / "r"))
    assert proc.returncode == 2 and "unknown variant 'int7x'" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "r").exists()


def test_blob_for_another_env_is_refused(tmp_path: Path) -> None:
    blob = tmp_path / "other.qhil"
    model = random_quant_model(np.random.default_rng(0), [5, 8, 2], parse_bits("int8", 2))
    blob.write_bytes(write_blob(model))
    proc = run_cli("bench", "--model", str(PENDULUM), "--target", "native", "--variants",
                   "float", "--blob", str(blob), "-o", str(tmp_path / "r"))
    assert proc.returncode == 2
    assert "blob has 5 observations and 2 actions, Pendulum-v1 has 3 and 1" in proc.stderr


def test_unknown_target_is_one_clear_line(tmp_path: Path) -> None:
    proc = run_cli("bench", "--model", str(PENDULUM), "--target", "qemu-z80",
                   "--variants", "int8", "--calib-episodes", "1", "-o", str(tmp_path / "r"))
    assert proc.returncode == 2 and "unknown target 'qemu-z80'" in proc.stderr


@pytest.mark.parametrize(("extra", "message"), [
    (["--target", "qemu-m3", "--weights-in", "flash"],
     "--weights-in flash: qemu-m3 has no firmware build with a model compiled in"),
    (["--target", "qemu-m4", "--weights-in", "flash", "--widen-weights"],
     "--widen-weights copies weights into RAM at load"),
    (["--target", "qemu-m4", "--weights-in", "rom"], "--weights-in 'rom': choose ram or flash"),
    (["--target", "qemu-m4", "--widen-weights", "--compact-load"],
     "--widen-weights makes a copy at load, --compact-load keeps nothing: choose one"),
])
def test_weights_in_flash_refusals_are_one_line(tmp_path: Path, extra: list[str],
                                                message: str) -> None:
    proc = run_cli("bench", "--model", str(PENDULUM), "--variants", "int8",
                   "--calib-episodes", "1", "-o", str(tmp_path / "r"), *extra)
    assert proc.returncode == 2 and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_weights_in_flash_runs_each_model_compiled_into_the_firmware(tmp_path: Path) -> None:
    """--weights-in flash: each device variant is built into qemu-m4's firmware, which is
    restarted with it and answers without an upload, from flash: bit-exact, and within
    2 % of the instruction count of the same blob uploaded into RAM (the kernel reads it
    in place either way; the flash image, compiled for its model's widths only, skips a
    few of the checks that choose a width's loop)."""
    args = ["-q", "bench", "--model", str(PENDULUM), "--target", "qemu-m4", "--variants", "int8",
            "--blob", str(PENDULUM / "qat_w2.qhil"), "--episodes", "1", "--calib-episodes", "3"]
    assert main([*args, "-o", str(tmp_path / "ram")]) == 0
    assert main([*args, "--weights-in", "flash", "-o", str(tmp_path / "flash")]) == 0
    ram, flash = (load_report(tmp_path / d / "report.json") for d in ("ram", "flash"))
    assert flash["target"]["weights_in"] == "flash" and ram["target"]["weights_in"] == "ram"
    for r, f in zip(ram["variants"], flash["variants"], strict=True):
        assert f["bit_exact"]["mismatches"] == 0 and f["bit_exact"]["checked_steps"] == 200
        ram_cost, flash_cost = r["device_cost"]["median"], f["device_cost"]["median"]
        assert 0.98 * ram_cost <= flash_cost <= ram_cost, f["name"]
        assert f["sizes"]["arena_bytes"] is None and r["sizes"]["arena_bytes"] is not None
    assert "compiled into flash" in (tmp_path / "flash" / "summary.md").read_text()


def test_report_of_another_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"schema": "qhil-report/0"}))
    with pytest.raises(ConfigError, match="qhil-report/0 report; this qhil reads qhil-report/1"):
        load_report(path)
    path.write_text("{broken")
    with pytest.raises(ConfigError, match="cannot read report"):
        load_report(path)


def test_nan_observation_is_a_clear_error() -> None:
    from qhil.common.errors import QhilError
    from qhil.quant.policy import quantize_obs

    model = random_quant_model(np.random.default_rng(0), [3, 8, 1], parse_bits("int8", 2))
    with pytest.raises(QhilError, match=r"NaN/inf at index \(1,\)"):
        quantize_obs(model, np.array([0.0, np.nan, 1.0]))



def test_qemu_bench_reports_device_energy_from_the_board_profile(tmp_path: Path) -> None:
    out = tmp_path / "q"
    assert main(["-q", "bench", "--model", str(PENDULUM), "--target", "qemu-m4", "--variants",
                 "int8", "--blob", str(PENDULUM / "qat_w3.qhil"), "--episodes", "1",
                 "--calib-episodes", "3", "-o", str(out)]) == 0
    report = load_report(out / "report.json")
    assert report["target"]["cost_unit"] == "instructions" and report["complete"]
    assert report["energy_model"]["board_profile"]["name"] == "stm32f411-100mhz"
    by_name = {v["name"]: v for v in report["variants"]}
    for v in by_name.values():
        device = v["energy"]["device"]
        assert device["basis"].startswith("instructions")
        # cost x 3.3 V x 100 uA/MHz / 1 cycle per instruction = cost x 0.33 nJ
        assert device["uj"] == pytest.approx(v["device_cost"]["median"] * 3.3e-4, rel=1e-4)
        assert v["bit_exact"]["mismatches"] == 0
        # no copy of the weights: int8 laid out for the DSP loops runs in place with each
        # row's starting value (4 bytes, rows padded to blocks of 4) and requantization
        # record (16 bytes) after the blob; 3-bit rows run the portable kernel
        sizes = v["sizes"]
        records = 4 * (64 + 64 + 4) + 16 * (64 + 64 + 1) if v["name"] == "int8" else 0
        assert sizes["arena_bytes"] == (sizes["device_bytes"] + 3) // 4 * 4 + records
    # per MAC of each variant's own network: the [256, 256] student has 15x the float
    # actor's MACs, each 3-bit one cheaper than an 8-bit one
    w3, int8 = by_name["qat_w3"], by_name["int8"]
    w3_macs = read_blob((PENDULUM / "qat_w3.qhil").read_bytes()).n_macs
    assert (w3_macs, report["macs"]) == (3 * 256 + 256 * 256 + 256, 3 * 64 + 64 * 64 + 64)
    assert w3["device_cost"]["per_mac"] == pytest.approx(w3["device_cost"]["median"] / w3_macs)
    assert (w3["energy"]["op_level"]["total_pj"] / w3_macs
            < int8["energy"]["op_level"]["total_pj"] / report["macs"])
    summary = (out / "summary.md").read_text()
    assert "Energy µJ: cost × STM32F411CE" in summary and "Arena B: device RAM" in summary
    assert report["target"]["weight_order"] == "dsp" and not report["target"]["widen_weights"]
    def int8_on_m4(flag: str, name: str) -> dict:
        assert main(["-q", "bench", "--model", str(PENDULUM), "--target", "qemu-m4",
                     "--variants", "int8", "--episodes", "1", "--calib-episodes", "3", flag,
                     "-o", str(tmp_path / name)]) == 0
        return load_report(tmp_path / name / "report.json")

    # --widen-weights: the int16 copy (2 bytes a weight, rows padded to 4) is in the arena
    # and the same answers come faster
    wide = int8_on_m4("--widen-weights", "w")
    assert wide["target"]["widen_weights"]
    (v,) = wide["variants"]
    copy = 2 * (4 * 64 + 64 * 64 + 64 * 4)
    assert v["sizes"]["arena_bytes"] >= (v["sizes"]["device_bytes"] + 3) // 4 * 4 + copy
    assert v["bit_exact"]["mismatches"] == 0
    assert v["device_cost"]["median"] < by_name["int8"]["device_cost"]["median"]
    # --compact-load: nothing kept at load, the arena holds the blob alone; same answers
    compact = int8_on_m4("--compact-load", "c")
    assert compact["target"]["compact_load"]
    (v,) = compact["variants"]
    assert v["sizes"]["arena_bytes"] == (v["sizes"]["device_bytes"] + 3) // 4 * 4
    assert v["bit_exact"]["mismatches"] == 0


@pytest.mark.parametrize(("target", "cpu", "kernel"), [("qemu-rv32", "rv32imac", "optimized C"),
                                                      ("qemu-m55", "cortex-m55", "Helium")])
def test_closed_loop_on_the_newer_cores(tmp_path: Path, target: str, cpu: str,
                                        kernel: str) -> None:
    """qemu-rv32 (rv32imac, portable kernels, picolibc) and qemu-m55 (Helium): integer
    variants bit-exact in the closed loop, the float32 blob within tolerance, cost counted
    in instructions."""
    out = tmp_path / "rv"
    assert main(["-q", "bench", "--model", str(PENDULUM), "--target", target, "--variants",
                 "int8,device-f32", "--blob", str(PENDULUM / "qat_w3.qhil"), "--episodes", "1",
                 "--calib-episodes", "3", "-o", str(out)]) == 0
    report = load_report(out / "report.json")
    assert report["target"]["cpu"] == cpu and report["target"]["kernel"] == kernel
    assert report["complete"]
    assert report["target"]["cost_unit"] == "instructions"
    by_name = {v["name"]: v for v in report["variants"]}
    for name in ("int8", "qat_w3"):
        assert by_name[name]["bit_exact"]["checked_steps"] == 200
        assert by_name[name]["bit_exact"]["mismatches"] == 0
        assert 0.3 < by_name[name]["device_cost"]["per_mac"] < 40.0
    assert by_name["device-f32"]["device_cost"]["median"] > by_name["int8"]["device_cost"]["median"]
