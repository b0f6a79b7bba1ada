"""Beyond one machine: boards through labgrid (the real coordinator, exporter with its
ser2net, and client) and benchmark matrices on a real local Ray cluster, each in a network
namespace with only loopback (tests/scenarios/). labgrid's own pytest plugin stays out of
this suite (``-p no:labgrid`` in pyproject.toml)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import pytest

from qhil.targets.firmware import build_firmware
from tests_support import run_scenario

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

needs = pytest.mark.skipif(
    not (BIN / "labgrid-client").exists() or shutil.which("ser2net") is None
    or shutil.which("unshare") is None or os.geteuid() != 0,
    reason="needs qhil[lab] and ser2net (make setup installs both) and root for a "
           "loopback-only namespace")


@needs
def test_a_labgrid_place_is_a_target() -> None:
    build_firmware("native")
    build_firmware("qemu-m4")
    seen = run_scenario("labgrid_place.py", timeout=600)
    local = seen["local"]["variants"]
    # through the place: the same returns and bit-exact steps as on this machine
    assert seen["lab"]["variants"] == local and seen["lab"]["incidents"] == []
    assert seen["lab"]["target"]["url"].startswith("rfc2217://127.0.0.1:")
    assert seen["lab"]["target"]["board"] == "native" and seen["released_after_run"]
    # a QEMU target's pty shared the same way: the same as the emulator started here
    assert seen["qemu_lab"]["variants"] == seen["qemu_local"]["variants"]
    assert seen["qemu_lab"]["target"]["board"] == "mps2_an386"
    # someone else's place: one line, exit 2, naming who holds it
    assert seen["busy"]["exit"] == 2 and len(seen["busy"]["stderr"]) == 1
    assert "busy" in seen["busy"]["stderr"][0] and "alice" in seen["busy"]["stderr"][0]
    # a hung device is power-cycled through the place's switch; results unchanged
    assert seen["switched"] == ["0", "1"] and seen["hang"]["incidents"] == ["restarted the target"]
    assert seen["hang"]["variants"] == local
    # the exporter killed mid-run: the run stops saying why, --resume completes it
    assert seen["dead"]["exit"] == 2 and not seen["dead"]["complete"]
    assert "could not be brought back" in seen["dead"]["last_line"]
    assert seen["resumed"]["variants"] == local
    assert any(i.startswith("repair failed") for i in seen["resumed"]["incidents"])


needs_ray = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None or shutil.which("unshare") is None
    or os.geteuid() != 0, reason="needs qhil[ray] (make setup installs it) and root for a "
                                  "loopback-only namespace")


@needs_ray
def test_a_matrix_resumed_on_ray_equals_the_serial_run_when_a_worker_dies() -> None:
    build_firmware("qemu-m4")
    build_firmware("qemu-m0")
    seen = run_scenario("ray_matrix.py", timeout=900)
    assert seen["episodes"] == 16 and seen["jobs"] == 8  # 8 of them resumed as 8 Ray jobs
    # returns, steps, falls and bit-exact counts identical; the emulated cost per step within
    # one timer tick (the counter's phase follows the host's timing), and so the medians
    assert seen["ray_equal"] and seen["cost_gap"] < 1.0 and seen["medians_gap"] < 1.0
    assert seen["killed"] == 1 and seen["incidents"]["serial"] == []
    assert seen["incidents"]["ray"] == ["Ray ran the job again (1 retries)"]
    assert "yes (800 steps)" in seen["summary"] and seen["plot"] > 1000


# -- bad input: one line, exit 2, before anything runs ------------------------------------------

def test_bad_matrices_and_places_are_refused_in_one_line(tmp_path: Path, capsys,
                                                         monkeypatch) -> None:
    from qhil.cli.main import main

    assert main(["matrix", "--targets", "qemu-m4", "-o", str(tmp_path / "m")]) == 2
    assert "the matrix has no models" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [models/Pendulum-v1]\ntargetz: [qemu-m4]\n")
    assert main(["matrix", str(bad)]) == 2
    assert "unknown field(s) targetz" in capsys.readouterr().err
    monkeypatch.delenv("LG_COORDINATOR", raising=False)
    assert main(["bench", "--model", str(ROOT / "models" / "Pendulum-v1"), "--variants", "int8",
                 "--target", "labgrid:bench-1", "-o", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs a labgrid coordinator" in err[0]
    assert not (tmp_path / "b").exists()


def test_jobs_cut_a_run_into_contiguous_shares() -> None:
    from qhil.harness.distribute import plan_jobs

    keys = [("int8", 0.0, s) for s in range(5)] + [("w3", 0.0, s) for s in range(5)]
    jobs = plan_jobs(0, {}, keys, 4)
    assert [len(j.keys) for j in jobs] == [3, 3, 3, 1]
    assert [k for j in jobs for k in j.keys] == keys
    assert plan_jobs(0, {}, [], 4) == [] and len(plan_jobs(0, {}, keys, 100)) == 10
