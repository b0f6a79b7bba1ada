"""What a new user meets in the first hour: bad input refused in one line (exit 2) before
any work, no silent wrong successes, messages that say what to do (issue 28). Each test
fails without the fix it names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from qhil.cli.main import main
from qhil.common.model_dir import load_model_dir
from qhil.quant.blob import load_blob, write_blob

ROOT = Path(__file__).resolve().parents[1]
PENDULUM = ROOT / "models" / "Pendulum-v1"
PPO_PENDULUM = ROOT / "models" / "ppo-Pendulum-v1"
QAT_W3 = PENDULUM / "qat_w3.qhil"
UNWRITABLE = "/proc/qhil-cannot-write/out"  # a pseudo file system: refused even to root


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``qhil ARGS`` in this process: (exit status, stdout, stderr)."""
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse's usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    return lines[0]


# ---------------------------------------------------------------------------------------
# Output paths: checked before any work
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [
    ("quantize", "--model", str(PENDULUM), "-o", UNWRITABLE + ".qhil"),
    ("export-c", str(QAT_W3), "-o", UNWRITABLE + ".h"),
    ("sweep-bits", "--model", str(PENDULUM), "--plot", UNWRITABLE + ".png"),
    ("eval", "--model", str(PENDULUM), "--json", UNWRITABLE + ".json"),
    ("bench", "--model", str(PENDULUM), "-o", UNWRITABLE),
    ("qat", "--model", str(PENDULUM), "--bits", "w3a3", "-o", UNWRITABLE + ".qhil"),
    ("train", "--env", "Pendulum-v1", "-o", UNWRITABLE),
], ids=lambda a: a[0])
def test_an_output_that_cannot_be_written_is_refused_before_any_work(
        capsys: pytest.CaptureFixture[str], args: tuple[str, ...]) -> None:
    start = time.monotonic()
    code, _, err = cli(capsys, *args)
    assert code == 2 and "/proc" in one_line(err) and "cannot write" in err
    assert time.monotonic() - start < 5, "refused only after working"


def test_compare_junit_to_an_unwritable_path_and_bench_into_a_file(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    report.write_text("{}")
    code, _, err = cli(capsys, "compare", str(report), str(report), "--junit",
                       UNWRITABLE + ".xml")
    assert code == 2 and "cannot write" in one_line(err)
    existing = tmp_path / "a-file"
    existing.write_text("keep me")
    code, _, err = cli(capsys, "bench", "--model", str(PENDULUM), "-o", str(existing))
    assert code == 2 and "it is a file" in one_line(err)
    assert existing.read_text() == "keep me"
    code, _, err = cli(capsys, "report", str(report), "--out", str(existing))
    assert code == 2 and "it is a file" in one_line(err)


# ---------------------------------------------------------------------------------------
# Counts, ranges and lists refused at parse time
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("args", "needle"), [
    (("bench", "--model", str(PENDULUM), "--episodes", "1000000000000"), "at most 100,000 episodes"),
    (("eval", "--model", str(PENDULUM), "--episodes", "100001"), "at most 100,000 episodes"),
    (("sweep-bits", "--model", str(PENDULUM), "--episodes", "100001"), "at most 100,000"),
    (("eval", "--model", str(PENDULUM), "--seeds", "0..99999999999"), "at most 1,000,000"),
    (("sweep-bits", "--model", str(PENDULUM), "--seeds", "5..1000005"), "at most 1,000,000"),
    (("bench", "--model", str(PENDULUM), "--variants", "float,,int8"), "empty entry"),
    (("bench", "--model", str(PENDULUM), "--ray", "--jobs", "0"), "positive integer"),
    (("run", "--blob", str(QAT_W3), "--obs", "1,0,0", "--bench", "0"), "must be in 1..1000"),
    (("bench", "--model", str(PENDULUM), "--timeout", "0"), "number > 0"),
    (("run", "--blob", str(QAT_W3), "--obs", "1,0,0", "--timeout", "-1"), "number > 0"),
])
def test_bad_counts_and_lists_are_refused_at_parse_time(
        capsys: pytest.CaptureFixture[str], args: tuple[str, ...], needle: str) -> None:
    start = time.monotonic()
    code, _, err = cli(capsys, *args)
    assert code == 2 and needle in one_line(err)
    assert time.monotonic() - start < 2


def test_a_seed_range_is_never_listed_whole_before_it_is_checked() -> None:
    from qhil.common.errors import ConfigError
    from qhil.common.protocol import SeedRange

    with pytest.raises(ConfigError, match="1,000,001 seeds"):
        SeedRange.parse("0..1000000")
    assert len(SeedRange.parse("0..999999")) == 1_000_000


# ---------------------------------------------------------------------------------------
# train: hyperparameters checked, shipped models not overwritten
# ---------------------------------------------------------------------------------------
def test_train_checks_hyperparameter_types_and_names_before_training(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = cli(capsys, "train", "--env", "Pendulum-v1", "--set", "learning_rate=abc",
                       "-o", str(tmp_path / "m"))
    assert code == 2 and "learning_rate='abc': expected float" in one_line(err)
    code, _, err = cli(capsys, "train", "--env", "Pendulum-v1", "--set", "batch_size=64.5",
                       "-o", str(tmp_path / "m"))
    assert code == 2 and "expected int" in one_line(err)
    code, _, err = cli(capsys, "train", "--env", "Pendulum-v1", "--set", "lerning_rate=1e-3",
                       "-o", str(tmp_path / "m"))
    assert code == 2 and "no such hyperparameter" in one_line(err) and "learning_rate" in err
    assert not (tmp_path / "m").exists()


def test_train_refuses_a_curriculum_or_an_expert_the_env_does_not_have(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for setting, message in (("curriculum=true", "no qhil_curriculum(progress) method"),
                             ("imitate=2", "no qhil_expert(obs) controller")):
        code, _, err = cli(capsys, "train", "--env", "Pendulum-v1", "--algo", "ppo",
                           "--set", setting, "-o", str(tmp_path / "m"))
        assert code == 2 and message in one_line(err)
    code, _, err = cli(capsys, "train", "--env", "qhil/QuadrotorHover-v0", "--algo", "td3",
                       "--set", "imitate=2", "-o", str(tmp_path / "m"))
    assert code == 2 and "for --algo ppo only" in one_line(err)
    assert not (tmp_path / "m").exists()


def test_train_refuses_to_overwrite_a_model_without_force(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import shutil

    target = tmp_path / "Pendulum-v1"
    shutil.copytree(PENDULUM, target)
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    code, _, err = cli(capsys, "train", "--env", "Pendulum-v1", "--steps", "10",
                       "-o", str(target))
    assert code == 2 and "already holds a model" in one_line(err) and "--force" in err
    assert "qat_w3.qhil" in err
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before


# ---------------------------------------------------------------------------------------
# Blobs record the actor they were made from
# ---------------------------------------------------------------------------------------
def test_blobs_record_their_actor_and_eval_warns_on_another_actors(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    ppo_blob = tmp_path / "ppo_int8.qhil"
    assert cli(capsys, "quantize", "--model", str(PPO_PENDULUM), "--calib-episodes", "2",
               "-o", str(ppo_blob))[0] == 0
    _, q = load_blob(ppo_blob)
    assert q.meta["actor_sha256"] == load_model_dir(PPO_PENDULUM).actor_sha256
    # the shipped exports carry theirs too
    _, shipped = load_blob(QAT_W3)
    assert shipped.meta["actor_sha256"] == load_model_dir(PENDULUM).actor_sha256
    code, _, err = cli(capsys, "eval", "--model", str(PENDULUM), "--blob", str(ppo_blob),
                       "--episodes", "1")
    assert code == 0 and "made from another actor" in err
    # a blob that does not say: "actor unknown"
    data, model = load_blob(QAT_W3)
    model.meta = {k: v for k, v in model.meta.items() if k not in ("actor_sha256", "source")}
    anonymous = tmp_path / "anonymous.qhil"
    anonymous.write_bytes(write_blob(model))
    code, _, err = cli(capsys, "eval", "--model", str(PENDULUM), "--blob", str(anonymous),
                       "--episodes", "1")
    assert code == 0 and "actor unknown" in err
    code, _, err = cli(capsys, "eval", "--model", str(PENDULUM), "--blob", str(QAT_W3),
                       "--episodes", "1")
    assert code == 0 and "warning" not in err


# ---------------------------------------------------------------------------------------
# compare: reports of different envs
# ---------------------------------------------------------------------------------------
def _minimal_report(env_id: str, ret: float) -> dict:
    from qhil.report.build import SCHEMA

    return {"schema": SCHEMA, "env_id": env_id, "target": {"name": "t", "cost_unit": "ns"},
            "variants": [{"name": "int8", "return": {"mean": ret}}]}


def test_compare_refuses_reports_of_different_envs(capsys: pytest.CaptureFixture[str],
                                                  tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_minimal_report("Pendulum-v1", -150.0)))
    b.write_text(json.dumps(_minimal_report("Hopper-v5", 3000.0)))
    code, _, err = cli(capsys, "compare", str(a), str(b), "--fail-on", "return=-2%")
    assert code == 2 and "Pendulum-v1" in one_line(err) and "Hopper-v5" in err
    code, out, err = cli(capsys, "compare", str(a), str(b), "--allow-env-mismatch")
    assert code == 0 and "warning" in one_line(err)
    # the header names the reports plainly, not "#1 #2"
    assert out.splitlines()[0].strip() == f"base: {a}" and out.splitlines()[1].strip() == f"new: {b}"


# ---------------------------------------------------------------------------------------
# --resume: what it runs, what it refuses
# ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A host-only bench (the float policy needs no device), 3 episodes."""
    out = tmp_path_factory.mktemp("resume") / "run"
    assert main(["-q", "bench", "--model", str(PENDULUM), "--variants", "float", "--episodes",
                 "3", "-o", str(out)]) == 0
    return out


def test_resume_with_other_settings_names_each_and_both_values(
        capsys: pytest.CaptureFixture[str], finished_run: Path) -> None:
    code, _, err = cli(capsys, "bench", "--resume", str(finished_run), "--episodes", "5",
                       "--target", "qemu-m0", "--model", str(PPO_PENDULUM))
    line = one_line(err)
    assert code == 2
    assert "--episodes 5 (the run has 3)" in line and "--target qemu-m0 (the run has qemu-m4)" in line
    assert "--model" in line
    # the same values as the run's are fine; an abbreviated option counts as given
    code, _, err = cli(capsys, "bench", "--resume", str(finished_run), "--episodes", "3")
    assert code == 0
    code, _, err = cli(capsys, "bench", "--resume", str(finished_run), "--epi", "4")
    assert code == 2 and "--episodes 4 (the run has 3)" in err


def test_resume_of_a_finished_run_starts_nothing(capsys: pytest.CaptureFixture[str],
                                                 finished_run: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from qhil.targets import TargetSettings

    def no_start(*_: object, **__: object) -> None:
        raise AssertionError("a finished run started a target")

    monkeypatch.setattr(TargetSettings, "start", no_start)
    monkeypatch.setattr("qhil.targets.firmware.build_firmware", no_start)
    before = (finished_run / "report.json").read_text()
    code, out, err = cli(capsys, "bench", "--resume", str(finished_run))
    assert code == 0 and "nothing left to do" in err + out
    assert (finished_run / "report.json").read_text() == before


def test_resume_runs_exactly_the_missing_episodes_and_rewrites_none(
        tmp_path: Path, finished_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A planted bug re-ran every saved episode (the final report came out the same):
    here the finished episode files keep their bytes and times, and exactly one runs."""
    import shutil

    import qhil.harness.campaign as campaign

    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    episodes = sorted((run / "episodes").glob("*.json"))
    assert len(episodes) == 3
    episodes[1].unlink()
    kept = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (episodes[0], episodes[2])}
    calls: list[int] = []
    real = campaign.run_bench_episode

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(campaign, "run_bench_episode", counting)
    time.sleep(0.01)
    assert main(["-q", "bench", "--resume", str(run)]) == 0
    assert len(calls) == 1
    assert episodes[1].is_file()
    for path, (data, mtime) in kept.items():
        assert path.read_bytes() == data and path.stat().st_mtime_ns == mtime
    report = json.loads((run / "report.json").read_text())
    assert report["complete"] and report["progress"]["episodes_done"] == 3


# ---------------------------------------------------------------------------------------
# Messages that say what to do
# ---------------------------------------------------------------------------------------
def test_a_blob_given_as_a_model_folder_is_named_as_such(capsys: pytest.CaptureFixture[str],
                                                         tmp_path: Path) -> None:
    code, _, err = cli(capsys, "quantize", "--model", str(QAT_W3), "-o", str(tmp_path / "x.qhil"))
    assert code == 2 and "is a .qhil blob, not a model folder" in one_line(err)


def test_env_factory_mistakes_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from qhil.common.envs import check_env_id
    from qhil.common.errors import ConfigError

    (tmp_path / "mymod_fh.py").write_text(
        "import gymnasium\n\ndef make(**kw):\n    return gymnasium.make('Pendulum-v1')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match="'mymod_fh' has no 'nope' \\(its functions: make\\)"):
        check_env_id("mymod_fh:nope")
    with pytest.raises(ConfigError, match="'mymod_fh' is a Python module.*mymod_fh:FUNCTION"):
        check_env_id("mymod_fh")
    check_env_id("mymod_fh:make")


def test_a_model_of_a_users_env_records_where_its_module_lies(tmp_path: Path) -> None:
    """Made where the module imports; loaded where it does not: the error names the file."""
    from qhil.common.errors import ModelFormatError

    (tmp_path / "envmod_fh.py").write_text(
        "import gymnasium\n\ndef make(**kw):\n    return gymnasium.make('Pendulum-v1')\n")
    script = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from qhil.common.model_dir import load_model_dir, save_model_dir\n"
        "m = load_model_dir(sys.argv[2])\n"
        "save_model_dir(__import__('pathlib').Path(sys.argv[3]), m.actor,"
        " dict(m.meta, env_id='envmod_fh:make'))\n")
    folder = tmp_path / "model"
    subprocess.run([sys.executable, "-c", script, str(tmp_path), str(PENDULUM), str(folder)],
                   check=True, cwd=ROOT)
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["env_module_file"] == str(tmp_path / "envmod_fh.py")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.chdir(elsewhere)
    with pytest.raises(ModelFormatError, match=f"was {tmp_path / 'envmod_fh.py'}.*run from"):
        load_model_dir(folder)


def test_help_texts_show_percent_signs_once(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("qat", "eval", "sweep-bits"):
        code, out, _ = cli(capsys, command, "--help")
        assert code == 0 and "%%" not in out and "% of float" in out, command


def test_run_prints_whole_instructions_and_no_dict() -> None:
    from qhil.cli.run_cmd import _count

    assert _count(7745.3125, "instructions") == "7,745 instructions"
    assert _count(11790.6, "cycles") == "11,791 cycles"
    assert _count(1804.0, "ns") == "1,804 ns"


def test_import_without_vecnormalize_says_where_the_statistics_usually_are(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from stable_baselines3 import TD3

    from qhil.common.envs import make_env
    from qhil.train.importer import import_policy
    from qhil.train.settings import ImportArgs

    env = make_env("Pendulum-v1")
    TD3("MlpPolicy", env, policy_kwargs={"net_arch": [8, 8]}, seed=0, device="cpu").save(
        tmp_path / "td3.zip")
    (tmp_path / "vecnormalize.pkl").write_bytes(b"")
    with caplog.at_level("WARNING", logger="qhil"):
        import_policy(ImportArgs(env_id="Pendulum-v1", out=tmp_path / "m", sb3=tmp_path / "td3.zip",
                                 test_episodes=1), show_progress=False)
    notes = [r.getMessage() for r in caplog.records if "VecNormalize" in r.getMessage()]
    assert len(notes) == 1 and "vecnormalize.pkl" in notes[0] and "--vecnormalize" in notes[0]


# ---------------------------------------------------------------------------------------
# % of float where the float return is near zero
# ---------------------------------------------------------------------------------------
def test_percent_of_float_is_undefined_when_the_float_interval_holds_zero() -> None:
    from qhil.common.evaluation import EvalResult, compare_paired
    from qhil.common.protocol import SeedRange

    seeds = SeedRange(0, 10)

    def result(returns: list[float]) -> EvalResult:
        return EvalResult(np.asarray(returns), np.full(10, 999), np.zeros(10, bool), seeds)

    zero = result([-0.0] * 10)
    tiny = result([0.001 * (i % 3) for i in range(10)])
    c = compare_paired(tiny, zero)
    assert not c.defined and np.isnan(c.percent) and c.as_dict()["percent_of_float"] is None
    assert c.difference == pytest.approx(np.mean([0.001 * (i % 3) for i in range(10)]))
    assert "undefined" in str(c)
    noisy = result([(-1) ** i * 50.0 + 1 for i in range(10)])  # mean 1, interval spans 0
    assert not compare_paired(noisy, noisy).defined
    clear = result([100.0 + i for i in range(10)])
    assert compare_paired(clear, clear).defined and compare_paired(clear, clear).percent == 100.0


def test_a_report_on_a_zero_return_env_ranks_by_the_return_difference() -> None:
    from qhil.report.decide import decide

    def variant(name: str, kind: str, returns: list[float], pct: float | None) -> dict:
        return {"name": name, "kind": kind, "return": {"mean": float(np.mean(returns)),
                                                       "per_episode": returns},
                "percent_of_float": pct, "sizes": {"weight_bytes": 100},
                "percent_of_float_undefined": "float mean's interval contains 0",
                "return_difference_vs_float": {"mean": float(np.mean(returns)),
                                               "interval95": [-0.1, 0.2]}}

    report = {"variants": [variant("float", "host-float", [0.0] * 4, None),
                           variant("w4a4", "device-int", [0.0, 0.1, -0.1, 0.2], None),
                           variant("int8", "device-int", [0.0, 0.0, 0.0, 0.1], None)]}
    why = decide(report, []).why
    assert "145" not in why and "% of float is undefined" in why and "ranked by return" in why


# ---------------------------------------------------------------------------------------
# What a report decides, on constructed reports (planted bugs survived these before)
# ---------------------------------------------------------------------------------------
def _v(name: str, ret: float, cost: float | None = None, weight: int = 100,
       kind: str = "device-int", per_episode: list[float] | None = None,
       noise: dict | None = None) -> dict:
    entry: dict = {"name": name, "kind": kind, "return": {"mean": ret,
                                                          "per_episode": per_episode or [ret]},
                   "sizes": {"weight_bytes": weight}, "percent_of_float": None}
    if cost is not None:
        entry["device_cost"] = {"median": cost}
    if noise:
        entry["noise"] = noise
    return entry


def test_pareto_fronts_are_exactly_the_undominated_names() -> None:
    """Dominance is "at least as good on both axes, strictly better on one": a same-cost,
    lower-return point is off the front; equal points both stay; order is by cost."""
    from qhil.report.decide import decide

    report = {"variants": [
        _v("a", -100.0, cost=1000), _v("b", -120.0, cost=1000),  # b: same cost, worse
        _v("c", -90.0, cost=2000), _v("d", -90.0, cost=3000),    # d: same return, costlier
        _v("e", -80.0, cost=5000), _v("f", -130.0, cost=500),
        _v("g", -100.0, cost=1000),                               # a twin of a
    ]}
    fronts = decide(report, []).fronts
    assert fronts["cost"] == ["f", "a", "g", "c", "e"]


def test_best_and_runner_up_that_cannot_be_told_apart_are_said_to_be() -> None:
    from qhil.report.decide import decide

    rng = np.random.default_rng(0)
    base = rng.normal(-200, 100, size=20)
    close = {"variants": [_v("int8", float(np.mean(base + 0.5)), per_episode=list(base + 0.5)),
                          _v("w4a4", float(np.mean(base + rng.normal(0, 30, 20))),
                             per_episode=list(base + rng.normal(0, 30, 20)))]}
    # the same lists twice would be a tie; make the runner-up noisy around the best
    close["variants"][1]["return"]["per_episode"] = list(base + rng.normal(0, 30, 20))
    close["variants"][1]["return"]["mean"] = float(np.mean(close["variants"][1]["return"]["per_episode"]))
    why = decide(close, []).why
    best = decide(close, []).best
    assert "cannot be told apart" in why and "contains 0" in why, why
    assert best in ("int8", "w4a4")
    apart = {"variants": [_v("int8", float(np.mean(base)), per_episode=list(base)),
                          _v("w2", float(np.mean(base - 50)), per_episode=list(base - 50))]}
    why = decide(apart, []).why
    assert "ahead of w2 by +50" in why and "told apart" not in why


def test_a_pick_that_falls_under_noise_is_named() -> None:
    from qhil.report.decide import decide

    report = {"variants": [
        _v("float", -150.0, kind="host-float", noise={"0.05": {"mean": -160.0}}),
        _v("w4a4", -149.0, noise={"0.05": {"mean": -200.5}}),
        _v("int8", -151.0, noise={"0.05": {"mean": -161.0}})]}
    d = decide(report, [])
    assert d.best == "w4a4" and "w4a4 79.8 % of float at noise 0.05" in d.why


def test_a_multi_run_gate_judges_against_the_worst_base_run_in_both_directions() -> None:
    """With several base runs, the reference is the worst of them in the metric's own sense:
    the lowest return (higher is better), the highest cost (lower is better). A planted bug
    swapped the two for higher-is-better metrics and survived."""
    from qhil.report.compare import compare_reports, parse_gates

    def rep(**values: float) -> dict:
        return {"env_id": "E", "target": {"cost_unit": "instructions"},
                "variants": [{"name": "int8", "return": {"mean": values["ret"]},
                              "device_cost": {"median": values["cost"]}}]}

    bases = [rep(ret=100.0, cost=1000.0), rep(ret=110.0, cost=1100.0), rep(ret=120.0, cost=900.0)]
    gates = parse_gates("return=-5%,cost=+5%")
    # return 96: 4 % below the worst base (100), 20 % below the best: passes
    ok = compare_reports([*bases, rep(ret=96.0, cost=1150.0)], gates, base_runs=3)
    assert not ok.failed, ok.failures
    # return 94: 6 % below the worst base: fails; cost 1160: 5.5 % above the worst (1100)
    bad = compare_reports([*bases, rep(ret=94.0, cost=1160.0)], gates, base_runs=3)
    assert bad.failures["return=-5%"] and bad.failures["cost=+5%"]
    assert "against the worst of 3 base runs" in bad.failures["return=-5%"][0]


def test_the_bootstrap_interval_equals_an_independent_computation() -> None:
    """The interval of docs/evaluation.md recomputed here from its description alone (a
    planted off-by-one in the resampling was caught only by a crash before)."""
    from qhil.common.evaluation import EvalResult, compare_paired
    from qhil.common.protocol import SeedRange

    q = np.array([-150.0, -210.5, -99.0, -300.25, -180.0, -120.0, -250.0, -175.5])
    f = np.array([-140.0, -200.0, -101.0, -280.0, -170.0, -125.0, -240.0, -160.0])
    seeds = SeedRange(0, q.size)
    c = compare_paired(EvalResult(q, np.ones(8), np.zeros(8, bool), seeds),
                       EvalResult(f, np.ones(8), np.zeros(8, bool), seeds))
    draws = np.random.default_rng(0).integers(0, q.size, size=(10_000, q.size))
    ratios = []
    for row in draws:
        qm, fm = sum(q[i] for i in row) / q.size, sum(f[i] for i in row) / f.size
        ratios.append(100.0 * fm / qm)  # both negative: float / quantized
    lo, hi = np.percentile(ratios, [2.5, 97.5])
    assert c.percent == pytest.approx(100.0 * f.mean() / q.mean())
    assert c.interval == pytest.approx((lo, hi), rel=1e-12)


# ---------------------------------------------------------------------------------------
# Docs and benchmarks that stay true
# ---------------------------------------------------------------------------------------
def test_the_pytest_examples_use_only_fixtures_that_exist() -> None:
    import re

    for doc in (ROOT / "docs" / "api.md", ROOT / "README.md"):
        for block in re.findall(r"```python\n(.*?)```", doc.read_text(), re.S):
            for params in re.findall(r"def test_\w+\(([^)]*)\)", block):
                names = [p.split(":")[0].strip() for p in params.split(",") if p.strip()]
                assert set(names) <= {"qhil", "tmp_path"}, (doc.name, names)


def test_benchmarks_md_refuses_a_firmware_table_of_other_firmware(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import make_benchmarks_md as mbm
    finally:
        sys.path.pop(0)
    from qhil.targets.firmware import firmware_source_hash

    monkeypatch.setattr(mbm, "RESULTS", tmp_path)
    (tmp_path / "firmware.json").write_text(json.dumps(
        [{"target": "qemu-m4", "firmware_sha256": firmware_source_hash()},
         {"target": "qemu-m0", "firmware_sha256": "0123456789abcdef"}]))
    with pytest.raises(SystemExit, match="qemu-m0 \\(0123456789abcdef\\)"):
        mbm.check_firmware_hash("firmware.json")
    (tmp_path / "firmware.json").write_text(json.dumps(
        [{"target": "qemu-m4", "firmware_sha256": firmware_source_hash()}]))
    mbm.check_firmware_hash("firmware.json")
    # and the committed tables are of this firmware
    monkeypatch.setattr(mbm, "RESULTS", ROOT / "benchmarks" / "results")
    mbm.check_firmware_hash("firmware.json")
    mbm.check_firmware_hash("cycles.json")


def test_front_plots_show_intervals_and_label_their_axes() -> None:
    """Energy 0.01-0.05 µJ (within a decade) gets a linear axis with tick labels; means 1.4
    apart with a spread of +-107 get a y axis that holds their intervals (no zoom that turns
    noise into a difference); a span of 100x gets a log axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from qhil.report.html import _front_plot, _mean_interval

    rng = np.random.default_rng(1)
    spread = rng.normal(0, 107, size=20)
    variants = [_v("int8", -150.0 + float(np.mean(spread)), per_episode=list(-150.0 + spread)),
                _v("w4a4", -151.4 + float(np.mean(spread)), per_episode=list(-151.4 + spread))]
    colour = {"int8": "#000000", "w4a4": "#111111"}
    fig, ax = plt.subplots()
    _front_plot(ax, [(0.012, variants[0]), (0.045, variants[1])], colour)
    fig.canvas.draw()
    assert ax.get_xscale() == "linear"
    assert [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    lo, hi = ax.get_ylim()
    for v in variants:
        a, b = _mean_interval(v)
        assert lo <= a and b <= hi and b - a > 40
    plt.close(fig)
    fig, ax = plt.subplots()
    _front_plot(ax, [(10.0, variants[0]), (1000.0, variants[1])], colour)
    assert ax.get_xscale() == "log"
    plt.close(fig)


@pytest.mark.slow
def test_flash_reaches_the_probe_through_the_real_upload() -> None:
    """`qhil flash` runs the real `pio run -t upload` with the real openocd (PlatformIO 6.2's
    `pio run` has no -O: the protocol goes to the in-repo builder as $UPLOAD_PROTOCOL). With
    no probe attached openocd says so, and qhil says it in one line, exit 2."""
    import shutil

    if shutil.which("openocd") is None:
        pytest.fail("openocd is not installed (make setup installs it)")
    out = subprocess.run([sys.executable, "-m", "qhil.cli.main", "flash", "--target",
                          "nucleo-f446re"], capture_output=True, text=True, timeout=300,
                         cwd=ROOT)
    assert out.returncode == 2, out.stderr
    error = [ln for ln in out.stderr.splitlines() if ln.startswith("qhil: error")]
    assert len(error) == 1 and "No such option" not in out.stderr
    assert "no ST-LINK found (openocd: Error: open failed)" in error[0]
