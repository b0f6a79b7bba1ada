"""Short libFuzzer campaigns on the firmware's frame parser and model loader (CI).

``make fuzz`` runs the long ones; their totals are in BENCHMARKS.md. A crash, a sanitizer
report, an unanswered frame or a rejection without a documented reason fails the test
and leaves its reproducer in build/fuzz/artifacts/.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SECONDS = float(os.environ.get("QHIL_FUZZ_SECONDS", "60"))

pytestmark = pytest.mark.skipif(shutil.which("clang") is None,
                                reason="clang is not installed (make setup installs it)")


def _fuzz_module():
    spec = importlib.util.spec_from_file_location("qhil_tools_fuzz", ROOT / "tools" / "fuzz.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_seed_corpus_is_current(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fuzz = _fuzz_module()
    monkeypatch.setattr(fuzz, "SEEDS", tmp_path)
    fuzz.write_seeds()
    for target in fuzz.TARGETS:
        fresh = {p.name: p.read_bytes() for p in (tmp_path / target).iterdir()}
        shipped = {p.name: p.read_bytes() for p in (ROOT / "tests/fuzz" / target).iterdir()}
        assert fresh == shipped, f"tests/fuzz/{target} is stale: run tools/fuzz.py seeds"


def test_short_fuzz_campaigns() -> None:
    fuzz = _fuzz_module()
    results = {c.target: c for c in fuzz.campaigns(SECONDS, jobs=2)}
    for c in results.values():
        assert not c.crashed, f"fuzz target {c.target} failed:\n{c.log_tail}"
        assert c.executions > 1000 and c.units > 1000, c.log_tail
    # the CRC-repairing modes must reach past the CRC: some fuzzed blobs are valid models
    assert results["model_load"].accepted and results["model_load"].accepted > 0
