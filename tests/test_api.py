"""The library seams: the layer order of host/qhil, the Python API, and the pytest plugin
run the way a user's project runs it (examples/user-ci, in a subprocess)."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
import pytest

import qhil.api as qhil
from qhil.common.errors import ConfigError
from qhil.pytest_plugin import assert_gates

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "host" / "qhil"
PENDULUM = ROOT / "models" / "Pendulum-v1"


# -- layers ------------------------------------------------------------------------------------

def documented_layers() -> list[str]:
    """The order written in docs/api.md ("Layers": ``a < b < c``), lowest first."""
    text = (ROOT / "docs" / "api.md").read_text()
    m = re.search(r"^`([a-z_ <]+)`$", text, re.MULTILINE)
    assert m, "docs/api.md states the layer order as `common < quant < ...`"
    return [part.strip() for part in m.group(1).split("<")]


def _imports() -> dict[str, list[tuple[str, int, bool]]]:
    """Every qhil import of every module: (target, line, at module level)."""
    found: dict[str, list[tuple[str, int, bool]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(("qhil", *path.relative_to(PACKAGE).with_suffix("").parts))
        module = module.removesuffix(".__init__")
        tree = ast.parse(path.read_text())
        top = {id(n) for n in tree.body}  # TYPE_CHECKING and function imports are not
        # imports for annotations only run under a type checker, never at run time
        typing_only = {id(n) for block in tree.body if isinstance(block, ast.If)
                       and "TYPE_CHECKING" in ast.unparse(block.test) for n in ast.walk(block)}
        edges = []
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("qhil"):
                edges.append((node.module, node.lineno, id(node) in top))
            elif isinstance(node, ast.Import):
                edges += [(a.name, node.lineno, id(node) in top) for a in node.names
                          if a.name.startswith("qhil")]
        found[module] = edges
    return found


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_imports_follow_the_documented_layer_order() -> None:
    order = documented_layers()
    problems = []
    for module, edges in _imports().items():
        src = _layer(module)
        if src and src not in order:
            problems.append(f"{module}: layer '{src}' is not in docs/api.md's order")
            continue
        for target, line, _ in edges:
            dst = _layer(target)
            if dst in ("", src):
                continue
            if dst not in order:
                problems.append(f"{module}:{line} imports {target}: not a documented layer")
            elif order.index(dst) > order.index(src):
                problems.append(f"{module}:{line} imports {target}: {dst} is above {src}")
    assert not problems, "\n".join(problems)


def test_no_import_loops_at_module_level() -> None:
    _no_loops({m: {t for t, _, top in edges if top} for m, edges in _imports().items()})


def test_no_import_loops_counting_function_level_imports() -> None:
    """An import inside a function only hides a loop (targets.py and firmware.py imported
    each other that way): every run-time import counts."""
    _no_loops({m: {t for t, _, _ in edges} for m, edges in _imports().items()})


def _no_loops(graph: dict[str, set[str]]) -> None:
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                loop = stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt]
                raise AssertionError("import loop: " + " -> ".join(loop))
            if nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_the_layer_test_catches_an_upward_import(tmp_path: Path, monkeypatch) -> None:
    """The check above can fail: a quant module importing the bench is reported."""
    fake = tmp_path / "qhil"
    shutil.copytree(PACKAGE, fake, ignore=shutil.ignore_patterns("__pycache__"))
    (fake / "quant" / "leak.py").write_text("from qhil.bench.policies import HostFloat\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    with pytest.raises(AssertionError, match="quant.leak.*bench is above quant"):
        test_imports_follow_the_documented_layer_order()


# -- the API -----------------------------------------------------------------------------------

def test_api_quantize_evaluate_bench_compare(tmp_path: Path) -> None:
    model = qhil.load_model(PENDULUM)
    q = qhil.quantize(model, "int8", qhil.PTQOptions(calib_episodes=3))
    ev = qhil.evaluate(model, q, episodes=3, split=qhil.Split.VALIDATION)
    assert ev.comparison is not None and ev.comparison.episodes == 3
    assert ev.result.seeds == qhil.SeedRange.of(10_000, 3)
    blob = qhil.save_blob(q, tmp_path / "int8.qhil", env_id=model.env_id)

    report = qhil.bench(model, variants=["float"], blobs=[blob], target="native", episodes=2,
                        out=tmp_path / "run", ptq=qhil.PTQOptions(calib_episodes=3))
    assert report.complete and report.mismatches == 0 and report.variants == ["float", "int8"]
    assert report.path.is_file() and report.data["target"]["name"] == "native"
    again = qhil.load_report(tmp_path / "run")
    assert again.data["variants"] == report.data["variants"]

    same = qhil.compare(report, again, fail_on="return=-2%")
    assert not same.failed
    # a candidate that lost half its return fails the gate
    worse = qhil.BenchReport({**report.data, "variants": [
        {**v, "return": {**v["return"], "mean": v["return"]["mean"] * 2}}
        for v in report.data["variants"]]}, report.out)
    verdict = qhil.compare(report, worse, fail_on="return=-2%")
    assert verdict.failed and verdict.failures["return=-2%"]
    with pytest.raises(pytest.fail.Exception, match="in this run against the base report"):
        assert_gates(worse, base=report, fail_on="return=-2%")
    assert_gates(report, fail_on="return=-50%")  # int8 within 50 % of its float variant

    out = qhil.infer(blob, [1.0, 0.0, 0.5], target="native")
    assert out.exact and out.cost_unit == "ns" and np.all(np.abs(out.action) <= 2.0)
    with pytest.raises(ConfigError):
        qhil.infer(blob, [1.0, float("nan"), 0.5], target="native")


def test_api_bench_refuses_bad_input_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown variant"):
        qhil.bench(PENDULUM, variants=["w3x"], target="native", out=tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_cli_options_come_from_the_settings_defaults() -> None:
    """Each default is written once: in the settings dataclass the options are made from."""
    from qhil.autoquant.settings import AutoquantArgs
    from qhil.cli.main import build_parser
    from qhil.harness.settings import BenchSettings
    from qhil.train.settings import QATArgs

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    bench = sub.choices["bench"].parse_args(["--model", "m"])  # type: ignore[union-attr]
    assert bench.episodes == BenchSettings().episodes and bench.device__target == "qemu-m4"
    qat_args = sub.choices["qat"].parse_args(["--model", "m", "--bits", "w3a3", "-o", "x"])
    assert qat_args.grad_steps == QATArgs.__dataclass_fields__["grad_steps"].default
    aq = sub.choices["autoquant"].parse_args(["--model", "m", "--budget", "weight_bytes=9"])
    assert aq.qat_iterations == AutoquantArgs.__dataclass_fields__["qat_iterations"].default


def test_the_docs_example_runs_as_written(tmp_path: Path, monkeypatch, capsys) -> None:
    text = (ROOT / "docs" / "api.md").read_text()
    block = re.search(r"```python\n(import qhil\.api as qhil\n.*?)```", text, re.DOTALL)
    assert block, "docs/api.md opens with a runnable example"
    (tmp_path / "models").symlink_to(ROOT / "models")
    monkeypatch.chdir(tmp_path)
    exec(compile(block.group(1), "docs/api.md", "exec"), {})
    out = capsys.readouterr().out
    assert "% of float" in out and "'mismatches': 0" in out
    assert (tmp_path / "reports" / "w4a4" / "report.json").is_file()


# -- the pytest plugin, as a user's project runs it -------------------------------------------

def test_user_project_runs_with_the_plugin(tmp_path: Path) -> None:
    project = tmp_path / "user-ci"
    shutil.copytree(ROOT / "examples" / "user-ci", project,
                    ignore=shutil.ignore_patterns("build", "__pycache__"))
    junit = tmp_path / "junit.xml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--qhil-target", "qemu-m4", "--qhil-artifacts",
                           str(tmp_path / "artifacts"), f"--junitxml={junit}"],
                          cwd=project, capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "0", "0")
    reports = [p.get("value") for p in suite.iter("property")
               if (p.get("name") or "").startswith("qhil_report_")]
    assert len(reports) == 2
    for path in reports:
        report = qhil.load_report(str(path))
        assert report.complete and report.mismatches == 0
        assert report.data["target"]["name"] == "qemu-m4"
        assert str(tmp_path / "artifacts") in str(path)


def test_api_sweep_sensitivity_export_c(tmp_path: Path) -> None:
    model = qhil.load_model(PENDULUM)
    ptq = qhil.PTQOptions(calib_episodes=2)
    swept = qhil.sweep(model, ["int8", "w2a2"], episodes=2, split=qhil.Split.VALIDATION, ptq=ptq)
    assert list(swept) == ["int8", "w2a2"]
    assert swept["int8"].comparison is not None and swept["int8"].result.seeds.start == 10_000
    rows = qhil.sensitivity(model, episodes=1, widths=[4], in_widths=[8], ptq=ptq)
    assert {(r.part, r.bits) for r in rows} == {("w0", 4), ("w1", 4), ("w2", 4), ("a0", 4),
                                                ("a1", 4), ("a2", 4), ("in", 8)}
    header = qhil.export_c(PENDULUM / "qat_w3.qhil", tmp_path / "m.h", name="pend")
    assert "pend" in header.read_text()
    with pytest.raises(ConfigError):
        qhil.flash("qemu-m4", upload_protocol="jtag-by-hand")
