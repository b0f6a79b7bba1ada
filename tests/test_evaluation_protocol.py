"""The held-out evaluation protocol (docs/evaluation.md): disjoint seed splits that
selection cannot cross, the paired bootstrap interval, early terminations."""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest

from qhil.cli.main import main
from qhil.common.episode import FunctionPolicy
from qhil.common.errors import ConfigError
from qhil.common.evaluation import EvalResult, compare_paired, evaluate_policy, percent_of_float
from qhil.common.model_dir import load_model_dir
from qhil.common.protocol import (
    PUBLISHED,
    SPLITS,
    ProtocolError,
    SeedRange,
    Split,
    check_seeds,
    split_seeds,
)
from qhil.quant.config import parse_bits
from qhil.quant.pipeline import Calibrator, PTQOptions
from qhil.train.qat import choose_input_bits, qat
from qhil.train.settings import QATArgs

PENDULUM = Path(__file__).resolve().parents[1] / "models" / "Pendulum-v1"


def test_splits_are_disjoint_and_leave_the_published_seeds_alone() -> None:
    ranges = [(s, r) for s, rs in SPLITS.items() for r in rs]
    for (sa, a), (sb, b) in combinations(ranges, 2):
        assert not a.overlaps(b), f"{sa} {a} overlaps {sb} {b}"
    assert not any(r.overlaps(PUBLISHED) for _, r in ranges)
    assert str(split_seeds(Split.TEST, 100)) == "100000..100099"
    assert str(split_seeds(Split.VALIDATION, 20)) == "10000..10019"


@pytest.mark.parametrize(("seeds", "purpose", "touches"), [
    (SeedRange(100_000, 100_020), Split.VALIDATION, "test split"),
    (SeedRange(19_990, 20_010), Split.VALIDATION, "fit split"),
    (SeedRange(0, 20), Split.TEST, "fit split"),
    (SeedRange(1_050, 1_060), Split.VALIDATION, "published"),
    (SeedRange(5_000, 5_010), Split.TEST, "outside the test split"),
    (SeedRange(10_000, 10_005), Split.FIT, "validation split"),
])
def test_a_seed_range_outside_its_purpose_is_refused(seeds: SeedRange, purpose: Split,
                                                     touches: str) -> None:
    with pytest.raises(ProtocolError, match=touches):
        check_seeds(seeds, purpose)


def test_selection_refuses_test_seeds_before_running_an_episode() -> None:
    model = load_model_dir(PENDULUM)
    calls = []

    def policy(obs: np.ndarray) -> np.ndarray:
        calls.append(obs)
        return model.actor.act(obs)

    with pytest.raises(ProtocolError, match="test split"):
        evaluate_policy(FunctionPolicy(policy), model.env_id, SeedRange.of(100_000, 3),
                        Split.VALIDATION)
    assert not calls
    # QAT's validation cannot run past its split either (20000.. is calibration's)
    bits = parse_bits("w3a3", 3)
    with pytest.raises(ProtocolError, match="fit split"):
        qat(model, QATArgs(bits=bits, iterations=1, val_episodes=10_001),
            Calibrator(model, PTQOptions(2)))
    with pytest.raises(ProtocolError):
        choose_input_bits(model, Calibrator(model, PTQOptions(2)), bits, episodes=10_001)


def test_seed_range_text() -> None:
    assert SeedRange.parse("2000..2099") == SeedRange(2000, 2100)
    assert len(SeedRange.parse(" 7 ")) == 1
    for bad in ("2000-2099", "9..3", "x"):
        with pytest.raises(ConfigError):
            SeedRange.parse(bad)


def _result(returns: list[float] | np.ndarray, start: int = 100_000,
            terminated: list[bool] | None = None) -> EvalResult:
    r = np.asarray(returns, float)
    t = np.zeros(r.size, bool) if terminated is None else np.asarray(terminated)
    return EvalResult(r, np.full(r.size, 1000), t, SeedRange.of(start, r.size))


def test_percent_of_float_conventions() -> None:
    assert percent_of_float(90.0, 100.0) == pytest.approx(90.0)
    assert percent_of_float(-200.0, -100.0) == pytest.approx(50.0)
    assert percent_of_float(5.0, -100.0) == float("inf")
    assert np.isnan(percent_of_float(5.0, 0.0))


def test_paired_interval_is_exact_when_the_ratio_is_the_same_on_every_seed() -> None:
    f = np.random.default_rng(1).uniform(100, 1000, 50)
    c = compare_paired(_result(0.9 * f), _result(f))
    assert c.percent == pytest.approx(90.0)
    assert c.interval == pytest.approx((90.0, 90.0))
    neg = compare_paired(_result(-2 * f), _result(-f))  # negative returns are inverted
    assert neg.percent == pytest.approx(50.0) and neg.interval == pytest.approx((50.0, 50.0))


def test_paired_interval_pairs_the_seeds() -> None:
    """Seed difficulty shared by both policies cancels: the paired interval is far
    narrower than the spread of either policy's returns would suggest."""
    rng = np.random.default_rng(2)
    difficulty = rng.uniform(500, 5000, 100)
    f = difficulty + rng.normal(0, 10, 100)
    q = 0.95 * difficulty + rng.normal(0, 10, 100)
    c = compare_paired(_result(q), _result(f))
    lo, hi = c.interval
    assert lo < c.percent < hi and hi - lo < 1.0
    assert c.percent == pytest.approx(100 * q.mean() / f.mean())
    # reproducible to the last digit
    assert compare_paired(_result(q), _result(f)).interval == c.interval


def test_paired_interval_covers_the_true_ratio_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(3)
    hits, trials = 0, 200
    for _ in range(trials):
        f = rng.normal(1000, 300, 100)
        q = 0.9 * f + rng.normal(0, 150, 100)  # true ratio of means: 90 %
        lo, hi = compare_paired(_result(q), _result(f), resamples=2000).interval
        hits += lo <= 90.0 <= hi
    assert 0.88 <= hits / trials <= 0.99


def test_paired_comparison_needs_the_same_seeds() -> None:
    with pytest.raises(ConfigError, match="same seeds"):
        compare_paired(_result([1.0, 2.0], start=100_000), _result([1.0, 2.0], start=100_001))


def test_early_terminations_are_counted_from_the_env() -> None:
    """InvertedPendulum with a constant full push falls long before its time limit."""
    res = evaluate_policy(FunctionPolicy(lambda obs: np.array([3.0])), "InvertedPendulum-v5",
                          SeedRange.of(2000, 3), None)
    assert res.early_terminations == 3 and (res.lengths < 1000).all()
    ok = evaluate_policy(FunctionPolicy(lambda obs: np.array([0.0])), "Pendulum-v1",
                         SeedRange.of(2000, 2), None)
    assert ok.early_terminations == 0 and (ok.lengths == 200).all()  # truncated, not ended
    c = compare_paired(_result([1.0] * 3, 2000, [True] * 3), _result([2.0] * 3, 2000))
    assert (c.early_terminations, c.float_early_terminations) == (3, 0)


def test_eval_on_seeds_of_ones_choosing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blob = PENDULUM / "qat_w3.qhil"
    out = tmp_path / "e.json"
    assert main(["eval", "--model", str(PENDULUM), "--blob", str(blob), "--seeds", "2000..2004",
                 "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["seeds"] == "2000..2004" and len(data["golden"]["returns"]) == 5
    lo, hi = data["comparison"]["interval95"]
    assert lo <= data["comparison"]["percent_of_float"] <= hi
    assert "% of float (95% CI" in capsys.readouterr().out


def test_eval_observation_noise_is_the_bench_noise(tmp_path: Path) -> None:
    """qhil eval --obs-noise draws what qhil bench --noise draws: the same noisy returns
    for the float policy and a quantized blob on the same seeds (native device)."""
    blob = PENDULUM / "qat_w3.qhil"
    assert main(["-q", "bench", "--model", str(PENDULUM), "--target", "native",
                 "--variants", "float", "--blob", str(blob), "--episodes", "2",
                 "--noise", "0.1", "--calib-episodes", "2", "-o", str(tmp_path / "b")]) == 0
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    bench = {v["name"]: v["noise"]["0.1"]["mean"] for v in report["variants"]}
    out = tmp_path / "e.json"
    assert main(["-q", "eval", "--model", str(PENDULUM), "--blob", str(blob), "--episodes", "2",
                 "--obs-noise", "0.1", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["float"]["mean"] == pytest.approx(bench["float"], abs=1e-9)
    assert result["golden"]["mean"] == pytest.approx(bench["qat_w3"], abs=1e-9)
    clean = evaluate_policy(load_model_dir(PENDULUM).actor, "Pendulum-v1",
                            SeedRange.of(100_000, 2), Split.TEST)
    assert clean.mean != result["float"]["mean"]  # the noise did something
    assert main(["eval", "--blob", str(blob), "--obs-noise", "0.1"]) == 2  # no model: no scale
