"""Short libFuzzer campaigns on the firmware's frame parser and model loader (CI).

``make fuzz`` runs the long ones; their totals are in BENCHMARKS.md. A crash, a sanitizer
report, an unanswered frame or a rejection without a documented reason fails the test
and leaves its reproducer in build/fuzz/artifacts/.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import zlib
from pathlib import Path

import pytest

from tests_support import fuzz_tools, loader_verdicts

ROOT = Path(__file__).resolve().parent.parent
SECONDS = float(os.environ.get("QHIL_FUZZ_SECONDS", "60"))

pytestmark = pytest.mark.skipif(shutil.which("clang") is None,
                                reason="clang is not installed (make setup installs it)")


def test_seed_corpus_is_current(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fuzz = fuzz_tools()
    monkeypatch.setattr(fuzz, "SEEDS", tmp_path)
    fuzz.write_seeds()
    for target in fuzz.TARGETS:
        fresh = {p.name: p.read_bytes() for p in (tmp_path / target).iterdir()}
        shipped = {p.name: p.read_bytes() for p in (ROOT / "tests/fuzz" / target).iterdir()}
        assert fresh == shipped, f"tests/fuzz/{target} is stale: run tools/fuzz.py seeds"


def test_short_fuzz_campaigns() -> None:
    fuzz = fuzz_tools()
    results = {c.target: c for c in fuzz.campaigns(SECONDS, jobs=2)}
    for c in results.values():
        assert not c.crashed, f"fuzz target {c.target} failed:\n{c.log_tail}"
        assert c.executions > 1000 and c.units > 1000, c.log_tail
    # the CRC-repairing modes must reach past the CRC: some fuzzed blobs are valid models
    assert results["model_load"].accepted and results["model_load"].accepted > 0


# What only the host reads (docs/model-format.md: the host section and the metadata): the
# device loader may accept a blob the host reader refuses for these, never the reverse.
# Fields of the host section only the host's converters use (a float32 model's observation
# mean/std/clip normalize on the host; the device receives z), and the metadata.
HOST_ONLY = re.compile(r"metadata|env_id|action bounds|input (steps|centre|center)|"
                       r"output scale|out_scale|host section|observation (std|mean)|clip|"
                       r"(input|output) zero point|action mapping", re.I)


def test_c_loader_and_python_reader_agree_on_the_fuzz_corpus(tmp_path: Path) -> None:
    """Every blob the fuzzers kept (and the seeds), as is and with size and CRC repaired:
    what the host reader accepts the firmware loader accepts with the same shape, and
    the loader accepts nothing the reader refuses except for host-only fields."""
    from qhil.common.errors import ModelFormatError
    from qhil.quant.blob import read_blob
    from qhil.quant.qmodel import QuantModel

    corpus = [*sorted((ROOT / "tests/fuzz/model_load").iterdir())]
    found = fuzz_tools().BUILD / "corpus-model_load"
    if found.is_dir():
        corpus += sorted(found.iterdir())
    blobs = []
    for path in corpus:
        data = path.read_bytes()
        blobs.append(data)
        if len(data) >= 68:
            fixed = bytearray(data)
            fixed[8:12] = struct.pack("<I", len(data))
            fixed[-4:] = struct.pack("<I", zlib.crc32(bytes(fixed[:-4])))
            blobs.append(bytes(fixed))
    verdicts = loader_verdicts(blobs, tmp_path)
    accepted_both = 0
    for data, (code, *shape) in zip(blobs, verdicts, strict=True):
        try:
            model = read_blob(data, device_image=True)
        except ModelFormatError as exc:
            assert code != 0 or HOST_ONLY.search(str(exc)), f"loader accepted: {exc}"
            continue
        assert code == 0, f"the reader accepts a blob the loader rejects (reason {code})"
        dims = ((0, len(model.layers), model.obs_dim, model.action_dim)
                if isinstance(model, QuantModel) else
                (1, len(model.weights), model.obs_dim, model.action_dim))
        assert tuple(shape) == dims
        accepted_both += 1
    assert accepted_both >= 20  # the seeds at least
