"""HTML reports render in a real browser; compare gates catch regressions."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from html import unescape as html_unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest

from qhil.cli.main import main
from qhil.common.errors import ConfigError
from qhil.report.compare import compare_reports, parse_gates

PENDULUM = Path(__file__).resolve().parents[1] / "models" / "Pendulum-v1"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rep")
    assert main(["-q", "bench", "--model", str(PENDULUM), "--target", "native", "--variants",
                 "float,int8,w4a4", "--episodes", "2", "--noise", "0,0.05",
                 "--calib-episodes", "3", "-o", str(out)]) == 0
    return out


def _chromium(tmp_path: Path, page: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars",
         "--window-size=900,2400", "--virtual-time-budget=5000", *flags, page.as_uri()],
        capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make setup installs it)")
def test_html_renders_and_decides_in_chromium_at_900px(bench_dir: Path, tmp_path: Path) -> None:
    """At a 900 px window: all four plots decode, the page is no wider than the window
    (wide tables scroll in their own box), and the decision, noise table and notes are
    there. A screenshot is kept in build/test-artifacts/ for a human look."""
    page = bench_dir / "report.html"
    dom = _chromium(tmp_path, page, "--dump-dom").stdout
    assert "qhil bench: Pendulum-v1 on native" in dom
    assert 'data-plots-loaded="6"' in dom, "the browser did not decode all six plots"
    width = int(re.search(r'data-page-width="(\d+)"', dom).group(1))  # type: ignore[union-attr]
    assert width <= 900, f"the page is {width} px wide in a 900 px window"
    assert "device answers checked against the golden executor, 0 mismatches" in dom
    # what the report decides on is in view without scrolling the table sideways
    ends = json.loads(html_unescape(re.search(r'data-header-right="([^"]*)"', dom).group(1)))  # type: ignore[union-attr]
    view = int(re.search(r'data-viewport-width="(\d+)"', dom).group(1))  # type: ignore[union-attr]
    for header in ("variant", "% of float (95% CI)", "device cost (ns)", "bit-exact", "weight B"):
        assert ends[header] <= view, (header, ends[header], view)
    # with a budget on another metric, its column comes into view too
    budgeted = tmp_path / "budgeted"
    assert main(["-q", "report", str(bench_dir / "report.json"), "--budget",
                 "op_energy=100000", "--out", str(budgeted)]) == 0
    budget_dom = _chromium(tmp_path, budgeted / "report.html", "--dump-dom").stdout
    ends = json.loads(html_unescape(re.search(r'data-header-right="([^"]*)"',  # type: ignore[union-attr]
                                              budget_dom).group(1)))
    assert ends["op-level nJ"] <= view, ends
    first_table = dom.split("</table>")[0]
    assert first_table.count("<tr>") == 4  # header + three variants
    assert "Best (no budget given): <strong>" in dom and "Pareto front, return vs" in dom
    assert "Robustness to observation noise" in dom
    assert "Link: " in dom and "Energy: op-level only" in dom
    artifacts = Path(__file__).resolve().parents[1] / "build" / "test-artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / "report-900px.png"
    shot.unlink(missing_ok=True)
    _chromium(tmp_path, page, f"--screenshot={shot}")
    assert shot.stat().st_size > 10_000


def test_plots_are_svg_with_readable_text_and_one_colour_per_variant(bench_dir: Path) -> None:
    import base64

    from qhil.report.html import PALETTE, report_figures

    report = _load(bench_dir)
    figs = report_figures(report)
    assert set(figs) == {"Return per variant", "Return vs device cost", "Return vs weight bytes",
                         "Energy vs return", "Latency histogram", "Noise robustness"}
    for name, data in figs.items():
        svg = base64.b64decode(data).decode()
        sizes = [float(px) for px in re.findall(r"font(?:-size)?:\s*([\d.]+)px", svg)]
        assert sizes and min(sizes) >= 11, f"{name}: text of {min(sizes or [0]):.1f} px"
    names = [v["name"] for v in report["variants"]]
    ret = base64.b64decode(figs["Return per variant"]).decode()
    noise = base64.b64decode(figs["Noise robustness"]).decode()
    for i, _ in enumerate(names):  # the variant's colour is in both plots
        assert PALETTE[i] in ret and PALETTE[i] in noise


def test_action_error_vs_float_is_measured_and_shown(bench_dir: Path) -> None:
    """On the states each integer variant visited: int8 stays close to float, 4 bits less
    so; both files show the same figures."""
    report = _load(bench_dir)
    errors = {v["name"]: v.get("action_error_vs_float") for v in report["variants"]}
    assert errors["float"] is None
    assert errors["int8"]["components"] == 2 * 200  # 2 clean episodes x 200 steps x 1 action
    assert 0 < errors["int8"]["rmse"] < errors["w4a4"]["rmse"] <= errors["w4a4"]["max"] <= 2
    summary = (bench_dir / "summary.md").read_text()
    page = (bench_dir / "report.html").read_text()
    for name in ("int8", "w4a4"):
        cell = f"{errors[name]['rmse']:.4f}"
        assert f"| {name} | {cell} |" in summary and f"<td>{cell}</td>" in page


def test_per_layer_device_cost_is_reported(bench_dir: Path) -> None:
    report = _load(bench_dir)
    per_layer = {v["name"]: v.get("layer_costs") for v in report["variants"]}
    assert per_layer["float"] is None and len(per_layer["int8"]) == 3
    assert all(c > 0 for c in per_layer["int8"])
    summary = (bench_dir / "summary.md").read_text()
    assert "On-device cost per layer (ns" in summary
    assert "On-device cost per layer" in (bench_dir / "report.html").read_text()


def test_budget_decides_the_best_variant(bench_dir: Path, tmp_path: Path) -> None:
    report = _load(bench_dir)
    sizes = {v["name"]: v["sizes"]["weight_bytes"] for v in report["variants"]}
    assert main(["report", str(bench_dir / "report.json"), "--out", str(tmp_path / "a"),
                 "--budget", f"weight_bytes={sizes['w4a4']}"]) == 0
    text = (tmp_path / "a" / "summary.md").read_text()
    assert f"Best under the budget weight_bytes <= {sizes['w4a4']}: **w4a4**" in text
    assert "int8 (weight_bytes" in text  # over budget, and said so
    assert main(["report", str(bench_dir / "report.json"), "--out", str(tmp_path / "b"),
                 "--budget", "latency_p99=3"]) == 2  # not a ceiling a report can decide on


def test_partial_report_is_rendered_as_such(bench_dir: Path, tmp_path: Path) -> None:
    report = _load(bench_dir) | {"complete": False,
                                 "progress": {"episodes_done": 3, "episodes_total": 8}}
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    assert main(["report", str(path)]) == 0
    page = (tmp_path / "report.html").read_text()
    assert "<p class='partial'><strong>PARTIAL</strong>: 3 of 8 episodes" in page
    assert "**" not in page


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


class _Cells(HTMLParser):
    """Text of every <td> of the page's table, row by row."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self.done = False

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if self.done:
            return
        if tag == "tr":
            self.rows.append([])
        elif tag == "td":
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.done = True  # the variant table is the first; the noise table follows
        if tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def test_html_and_summary_show_what_report_json_says(bench_dir: Path, tmp_path: Path) -> None:
    """Every table value of report.html and summary.md, read back and checked against
    report.json, on a report with device mismatches (rendered as such)."""
    report = _load(bench_dir)
    for v in report["variants"]:
        if v["name"] == "int8":
            v["bit_exact"]["mismatches"] = 3
            v["return"]["std"] = 12.25  # mean and std differ: a swap cannot hide
    path = tmp_path / "in" / "report.json"
    path.parent.mkdir()
    path.write_text(json.dumps(report))
    assert main(["report", str(path), "--out", str(tmp_path)]) == 0
    parser = _Cells()
    parser.feed((tmp_path / "report.html").read_text())
    html_rows = {r[0]: r for r in parser.rows if r}
    summary = (tmp_path / "summary.md").read_text()
    variant_table = summary.split("| variant |", 1)[1].split("\n\n", 1)[0]
    md_rows = {cells[0]: cells for line in variant_table.splitlines()[2:]
               for cells in [[c.strip() for c in line.strip("|").split("|")]]}
    assert set(html_rows) == set(md_rows) == {v["name"] for v in report["variants"]}
    from qhil.report.markdown import table_head

    col = {title: i for i, title in enumerate(table_head(report))}
    for v in report["variants"]:
        h, m = html_rows[v["name"]], md_rows[v["name"]]
        assert h == m, v["name"]
        assert h[col["bits"]] == v["bits"]
        assert h[col["return"]] == f"{v['return']['mean']:.1f} ± {v['return']['std']:.1f}"
        assert h[col["% of float (95% CI)"]].startswith(f"{v['percent_of_float']:.1f}")
        assert h[col["ended early"]] == str(v["early_terminations"])
        assert h[col["weight B"]] == str(v["sizes"]["weight_bytes"])
        if "device_cost" in v:
            assert h[col["device cost (ns)"]] == f"{v['device_cost']['median']:.0f}"
        assert h[col["op-level nJ"]] == f"{v['energy']['op_level']['total_pj'] / 1e3:.2f}"
        exact = v.get("bit_exact")
        want = "-" if not exact else "yes" if exact["mismatches"] == 0 else \
            f"NO ({exact['mismatches']})"
        assert h[col["bit-exact"]] == want, v["name"]
        assert h[col["blob B"]] == str(v["sizes"]["blob_bytes"] or "-")
    assert html_rows["int8"][col["bit-exact"]] == "NO (3)"
    # the host round trip has a table of its own, below the decision
    latency = summary.split("Control latency", 1)[1]
    for v in report["variants"]:
        row = next(line for line in latency.splitlines() if line.startswith(f"| {v['name']} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[1] == f"{v['latency_ms']['p50']:.3f}" and cells[2] == f"{v['latency_ms']['p99']:.3f}"
        assert cells[4] == str(v["deadline_misses"])
    assert "<span class='bad'>NO (3)</span>" in (tmp_path / "report.html").read_text()


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
