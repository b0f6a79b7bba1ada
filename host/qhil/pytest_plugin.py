"""qhil's pytest plugin: closed-loop benchmarks as tests in a user's own suite.

Registered through the ``pytest11`` entry point of the installed package, so a project
that depends on qhil gets it without a conftest import:

    pytest --qhil-target qemu-m4 --junitxml=results.xml

    def test_w4_holds(qhil):
        report = qhil.bench("models/Pendulum-v1", variants=["float"], blobs=["w4.qhil"])
        qhil.assert_gates(report, fail_on="return=-5%")      # against the float variant

The ``qhil`` fixture runs each bench on ``--qhil-target``, writes the run folder (report.json,
summary.md, report.html) under ``--qhil-artifacts`` (default: the test's ``tmp_path``) and
records the report's path as a JUnit property of the test. ``assert_gates`` takes the
syntax of ``qhil compare --fail-on`` (docs/reports.md#gates).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # qhil's bench (and numpy, gymnasium) load when a test uses the fixture
    from qhil.harness.run import BenchReport

__all__ = ["QhilBench", "assert_gates"]

DEFAULT_TARGET = "qemu-m4"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("qhil", "qhil closed-loop benchmarks")
    group.addoption("--qhil-target", default=None,
                    help=f"target the qhil fixture benches on (default: $QHIL_TARGET or "
                         f"{DEFAULT_TARGET}; 'qhil devices' lists them)")
    group.addoption("--qhil-port", default=None,
                    help="the device's serial port or URL (boards, devices elsewhere)")
    group.addoption("--qhil-artifacts", default=None, metavar="DIR",
                    help="where the qhil fixture writes its run folders (default: each test's "
                         "tmp_path)")
    group.addoption("--qhil-no-build", action="store_true",
                    help="use the firmware already built")


class QhilBench:
    """The ``qhil`` fixture: benches on the session's target, reports kept as artifacts."""

    def __init__(self, target: str, port: str | None, artifacts: Path, build: bool,
                 node: pytest.Item) -> None:
        self.target = target
        self.port = port
        self.artifacts = artifacts
        self.build = build
        self._node = node
        self._runs = 0

    def bench(self, model: str | Path, *, variants: Sequence[str] = ("float",),
              blobs: Sequence[str | Path] = (), episodes: int = 5, name: str | None = None,
              **settings: Any) -> BenchReport:
        """A closed-loop bench (:func:`qhil.api.bench`) into ``<artifacts>/<name>``.

        :param settings: more :class:`~qhil.harness.BenchSettings` fields (``seed``, ``noise``...)
        """
        from qhil.api import bench
        from qhil.targets import TargetSettings

        self._runs += 1
        out = self.artifacts / (name or f"bench{self._runs}")
        device = TargetSettings(self.target, port=self.port, no_build=not self.build)
        report = bench(model, variants=variants, blobs=blobs, episodes=episodes, out=out,
                       target=device, **settings)
        self._node.user_properties.append((f"qhil_report_{out.name}", str(report.path)))
        return report

    def assert_gates(self, candidate: BenchReport | str | Path, *,
                     base: BenchReport | str | Path | None = None, fail_on: str) -> None:
        """See :func:`assert_gates`."""
        assert_gates(candidate, base=base, fail_on=fail_on)


def assert_gates(candidate: BenchReport | str | Path, *,
                 base: BenchReport | str | Path | None = None, fail_on: str) -> None:
    """Fail the test when ``candidate`` breaks a gate of ``fail_on`` against ``base``.

    Without ``base`` the gates compare the candidate's variants with its own ``float``
    variant (``return=-5%``: every device variant within 5 % of float's return).
    Besides the gates, every device answer must have been bit-exact. A failure is the
    gate lines alone (``pytest.fail`` without a traceback through this plugin), e.g.
    ``int8: return changed -7.3% in this run against float (limit -5%)``.
    """
    from qhil.api import load_report
    from qhil.report.compare import compare_reports, parse_gates

    __tracebackhide__ = True
    cand = candidate if not isinstance(candidate, (str, Path)) else load_report(candidate)
    if cand.mismatches:
        pytest.fail(f"{cand.mismatches} device answers differed from the golden executor "
                    f"({cand.path})", pytrace=False)
    if base is None:
        reference, label = _float_as_base(cand), "float"
    else:
        reference = base if not isinstance(base, (str, Path)) else load_report(base)
        label = f"the base report ({reference.path})"
    verdict = compare_reports([reference.data, cand.data], parse_gates(fail_on), 1,
                              [label, "this run"])
    if verdict.failed:
        lines = [f"{m} [gate {gate}]" for gate, msgs in verdict.failures.items() for m in msgs]
        pytest.fail("\n".join(lines), pytrace=False)


def _float_as_base(report: BenchReport) -> BenchReport:
    """The report with every variant replaced by its float variant's figures: the base a
    gate then measures each variant against."""
    from qhil.harness.run import BenchReport

    try:
        ref = report.variant("float")
    except KeyError:
        pytest.fail("assert_gates without a base needs a 'float' variant in the report",
                    pytrace=False)
    variants = [dict(ref, name=v["name"]) for v in report.data["variants"]]
    return BenchReport(dict(report.data, variants=variants), report.out)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:80]


@pytest.fixture
def qhil(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[QhilBench]:
    config = request.config
    target = config.getoption("qhil_target") or os.environ.get("QHIL_TARGET") or DEFAULT_TARGET
    root = config.getoption("qhil_artifacts")
    artifacts = Path(root) / _safe(request.node.nodeid) if root else tmp_path
    artifacts.mkdir(parents=True, exist_ok=True)
    yield QhilBench(target, config.getoption("qhil_port"), artifacts,
                    not config.getoption("qhil_no_build"), request.node)
