"""Does the controller survive the MCU? Run with: pytest --qhil-target qemu-m4

The ``qhil`` fixture comes from qhil's pytest plugin (installed with qhil); each bench's
report is kept in the test's folder and named in the JUnit file.
"""

from __future__ import annotations

from pathlib import Path

import qhil.api as qhil_api


def test_int8_controller_matches_float(qhil, model_dir: Path) -> None:
    report = qhil.bench(model_dir, variants=["float", "int8"], episodes=3, name="int8")
    qhil.assert_gates(report, fail_on="return=-5%")  # every device answer bit-exact, too


def test_6_bit_export_fits_and_holds(qhil, model_dir: Path, tmp_path: Path) -> None:
    blob = qhil_api.save_blob(qhil_api.quantize(model_dir, "w6a8"),
                              tmp_path / "w6.qhil")
    report = qhil.bench(model_dir, variants=["float"], blobs=[blob], episodes=3, name="w6")
    assert report.variant("w6")["sizes"]["weight_bytes"] < 2000
    qhil.assert_gates(report, fail_on="return=-25%")
