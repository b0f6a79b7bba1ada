"""HTML reports render in a real browser; compare gates catch regressions."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qhil.bench.compare import compare_reports, parse_gates
from qhil.cli.main import main
from qhil.common.errors import ConfigError

PENDULUM = Path(__file__).resolve().parents[1] / "models" / "Pendulum-v1"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rep")
    assert main(["-q", "bench", "--model", str(PENDULUM), "--target", "native", "--variants",
                 "float,int8,w4a4", "--episodes", "2", "--noise", "0,0.05",
                 "--calib-episodes", "3", "-o", str(out)]) == 0
    return out


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make setup installs it)")
def test_html_renders_with_its_plots_in_chromium(bench_dir: Path, tmp_path: Path) -> None:
    page = bench_dir / "report.html"
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120)
    dom = proc.stdout
    assert "qhil bench: Pendulum-v1 on native" in dom
    assert 'data-plots-loaded="4"' in dom, "the browser did not decode all four plots"
    assert dom.count("<tr>") == 4  # header + three variants
    assert "Link: " in dom and "Energy: op-level only" in dom


def test_report_command_rerenders(bench_dir: Path, tmp_path: Path) -> None:
    assert main(["report", str(bench_dir / "report.json"), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "report.html").stat().st_size > 10_000
    assert "| int8 |" in (tmp_path / "summary.md").read_text()


def test_verbose_logs_qhil_not_its_dependencies(bench_dir: Path, tmp_path: Path) -> None:
    """-v is for qhil's own log: matplotlib's font search (~2,200 lines) stays quiet."""
    proc = subprocess.run([sys.executable, "-m", "qhil.cli.main", "-v", "report",
                           str(bench_dir / "report.json"), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "findfont" not in proc.stderr and "matplotlib" not in proc.stderr


def _load(bench_dir: Path) -> dict:
    return json.loads((bench_dir / "report.json").read_text())


def test_compare_identical_reports_pass(bench_dir: Path) -> None:
    path = str(bench_dir / "report.json")
    assert main(["compare", path, path, "--fail-on", "return=-2%,cost=+5%"]) == 0


def test_compare_flags_a_return_regression(bench_dir: Path, tmp_path: Path) -> None:
    worse = copy.deepcopy(_load(bench_dir))
    for v in worse["variants"]:
        if v["name"] == "int8":
            v["return"]["mean"] *= 1.10  # Pendulum returns are negative: 10 % more costly
    path = tmp_path / "worse.json"
    path.write_text(json.dumps(worse))
    assert main(["compare", str(bench_dir / "report.json"), str(path),
                 "--fail-on", "return=-2%"]) == 1
    failures = compare_reports([_load(bench_dir), worse], parse_gates("return=-2%")).failures
    assert len(failures["return=-2%"]) == 1
    assert failures["return=-2%"][0].startswith("int8: return changed -9.1%")


def test_compare_flags_cost_growth(bench_dir: Path) -> None:
    base = _load(bench_dir)
    slower = copy.deepcopy(base)
    for v in slower["variants"]:
        if "device_cost" in v:
            v["device_cost"]["median"] *= 1.2
    failures = compare_reports([base, slower], parse_gates("cost=+5%")).failures["cost=+5%"]
    assert len(failures) == 2 and all("cost changed +20.0%" in f for f in failures)


def test_device_and_op_level_energy_are_separate_metrics(bench_dir: Path) -> None:
    base = _load(bench_dir)  # native: no board profile, so op-level energy only
    assert all("device" not in v["energy"] for v in base["variants"])
    hungrier = copy.deepcopy(base)
    for v in hungrier["variants"]:
        v["energy"]["op_level"]["total_pj"] *= 1.1
    result = compare_reports([base, hungrier], parse_gates("energy=+5%,op_energy=+5%"))
    assert result.failures["energy=+5%"] == []  # nothing in µJ to judge
    assert len(result.failures["op_energy=+5%"]) == 3
    assert {r.metric.unit_in(base) for r in result.rows if r.metric.name == "op_energy"} == {"pJ"}


@pytest.mark.parametrize("gate", ["return=2", "speed=+1%", "return=-x%"])
def test_bad_gates_are_clear_errors(gate: str) -> None:
    with pytest.raises(ConfigError, match="bad gate"):
        parse_gates(gate)
