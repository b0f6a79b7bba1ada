"""Time in the loop (issue 30): a device's latency acts on the plant. An env with an exactly
known response (a mass on a frictionless slider, MuJoCo's semi-implicit Euler) checks the
held actions physics step by physics step; overruns, zero latency, lockstep and bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.mujoco import MujocoEnv
from gymnasium.wrappers import TimeLimit

from qhil.cli.main import main
from qhil.common.episode import FunctionPolicy, run_episode
from qhil.common.timing import Plant, StepTiming

ROOT = Path(__file__).resolve().parents[1]
H = 0.001  # physics step
F = 10  # physics steps per control step
MASS = 2.0
SLIDER = f"""
<mujoco>
  <option timestep="{H}" integrator="Euler" gravity="0 0 0"/>
  <worldbody>
    <body name="cart">
      <joint name="x" type="slide" axis="1 0 0" damping="0" armature="0"/>
      <geom type="box" size=".1 .1 .1" mass="{MASS}" contype="0" conaffinity="0"/>
    </body>
  </worldbody>
  <actuator><motor joint="x" gear="1" ctrlrange="-1 1" ctrllimited="true"/></actuator>
</mujoco>
"""


class Slider(MujocoEnv):
    """x'' = u / m; the reward of a tick is the position at its end."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 100}

    def __init__(self, xml: Path) -> None:
        space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float64)
        super().__init__(str(xml), F, observation_space=space)

    def step(self, action):  # type: ignore[override]
        self.do_simulation(action, self.frame_skip)
        obs = np.concatenate([self.data.qpos, self.data.qvel])
        return obs, float(self.data.qpos[0]), False, False, {}

    def reset_model(self) -> np.ndarray:
        self.set_state(np.zeros(1), np.zeros(1))
        return np.concatenate([self.data.qpos, self.data.qvel])


@pytest.fixture
def slider(tmp_path: Path):
    xml = tmp_path / "slider.xml"
    xml.write_text(SLIDER)
    return lambda: TimeLimit(Slider(xml), max_episode_steps=12)


def commands() -> FunctionPolicy:
    """+1, -0.5, +0.25, ... : each action differs from the one before."""
    count = [0]

    def act(_: np.ndarray) -> np.ndarray:
        count[0] += 1
        return np.array([(-0.5) ** (count[0] - 1)])

    return FunctionPolicy(act)


def expected(delay: int, ticks: int) -> tuple[list[float], int]:
    """Positions at the end of each observed tick (rewards summed over missed ones) and
    the misses, by the rules of qhil.common.timing, integrated here by hand."""
    x = v = 0.0
    held = 0.0
    k = 0
    positions: list[float] = []
    misses = 0
    tick = 0
    while tick < ticks:
        k += 1
        new = (-0.5) ** (k - 1)
        d = delay
        reward = 0.0
        while True:
            landing = d <= F
            for j in range(F):
                u = held if (not landing or j < d) else new
                v += H * u / MASS
                x += H * v
            reward += x
            tick += 1
            if landing or tick >= ticks:
                break
            misses += 1
            d -= F
        held = new
        positions.append(reward)
    return positions, misses


@pytest.mark.parametrize("latency_ms", [0.0, 0.4, 1.0, 3.5, 9.9, 10.0, 14.2, 27.0])
def test_the_plant_feels_each_latency_exactly(slider, latency_ms: float) -> None:
    """A latency of L holds the previous action for ceil(L / h) physics steps (an overrun
    passes whole ticks with it and sums their rewards); the trajectory equals the one
    integrated by hand to the last bits."""
    env = slider()
    rewards: list[float] = []
    timings: list[StepTiming] = []
    plant = Plant(env)
    ep = run_episode(commands(), env, seed=0, plant=plant, latency=lambda: latency_ms / 1e3,
                     on_step=lambda s: rewards.append(s.reward), on_timing=timings.append)
    want, misses = expected(int(np.ceil(latency_ms / 1e3 / H - 1e-9)), 12)
    np.testing.assert_allclose(rewards, want, rtol=0, atol=1e-13)
    assert ep.steps == 12 and sum(t.misses for t in timings) == misses
    assert all(t.delay_steps == int(np.ceil(latency_ms - 1e-9)) for t in timings)


def test_zero_latency_is_the_lockstep_loop_bit_for_bit() -> None:
    """HalfCheetah with a zero-latency device: the same return as the loop without time."""
    from qhil.common.model_dir import load_model_dir

    actor = load_model_dir(ROOT / "models" / "HalfCheetah-v5").actor
    lock = run_episode(actor, gym.make("HalfCheetah-v5"), seed=100_000)
    env = gym.make("HalfCheetah-v5")
    timed = run_episode(actor, env, seed=100_000, plant=Plant(env), latency=lambda: 0.0)
    assert timed.ret == lock.ret and timed.steps == lock.steps


def test_an_overrun_holds_the_old_action_counts_the_miss_and_sums_the_rewards(slider) -> None:
    env = slider()
    rewards: list[float] = []
    timings: list[StepTiming] = []
    run_episode(commands(), env, seed=0, plant=Plant(env), latency=lambda: 0.025,
                on_step=lambda s: rewards.append(s.reward), on_timing=timings.append)
    # 25 ms in 10 ms periods: two ticks pass with the held action, it lands 5 steps into
    # the third; 12 ticks are 4 inferences with 2 misses each
    assert len(timings) == 4 and [t.misses for t in timings] == [2, 2, 2, 2]
    want, _ = expected(25, 12)
    np.testing.assert_allclose(rewards, want, rtol=0, atol=1e-13)
    # the first inference's three ticks ran rest, rest, then rest for 5 steps and +1 for 5
    v = x = total = 0.0
    for tick in range(3):
        for j in range(F):
            u = 1.0 if tick == 2 and j >= 5 else 0.0
            v += H * u / MASS
            x += H * v
        total += x
    assert rewards[0] == pytest.approx(total, abs=1e-15)


def test_whole_period_delays_for_envs_without_physics_steps() -> None:
    """Pendulum-v1 has no physics steps to split: refused unless --delay-periods, which
    delays every action by whole control periods (N=0: the lockstep loop)."""
    from qhil.common.errors import ConfigError

    with pytest.raises(ConfigError, match="--delay-periods"):
        Plant(gym.make("Pendulum-v1"))
    policy = FunctionPolicy(lambda obs: np.array([np.clip(-3 * obs[2], -2, 2)]))
    lock = run_episode(policy, gym.make("Pendulum-v1"), seed=5)
    env = gym.make("Pendulum-v1")
    same = run_episode(policy, env, seed=5, plant=Plant(env, delay_periods=0),
                       latency=lambda: 0.001)
    assert same.ret == lock.ret
    env = gym.make("Pendulum-v1")
    late = run_episode(policy, env, seed=5, plant=Plant(env, delay_periods=1),
                       latency=lambda: 0.001)
    assert late.ret != lock.ret and late.steps == lock.steps


@pytest.mark.parametrize(("args", "needle"), [
    (["--timing", "device", "--clock-hz", "0"], "must be > 0 Hz"),
    (["--timing", "device", "--io-latency-us", "-1"], "must be a number >= 0"),
    (["--timing", "sometimes"], "invalid choice"),
    (["--timing", "device", "--physics-substeps", "0"], "positive integer"),
])
def test_bad_timing_options_are_refused_at_parse_time(capsys, args: list[str],
                                                      needle: str) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--model", str(ROOT / "models" / "HalfCheetah-v5"), *args])
    assert exc.value.code == 2 and needle in capsys.readouterr().err


def test_a_timing_the_run_cannot_have_is_one_line(capsys, tmp_path: Path) -> None:
    """Pendulum without --delay-periods, and a native target (it counts host ns)."""
    code = main(["bench", "--model", str(ROOT / "models" / "Pendulum-v1"), "--timing", "device",
                 "--target", "qemu-m4", "-o", str(tmp_path / "a")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "--delay-periods" in err[-1] and not (tmp_path / "a").exists()
    code = main(["-q", "bench", "--model", str(ROOT / "models" / "HalfCheetah-v5"), "--timing",
                 "device", "--target", "native", "--variants", "int8", "--calib-episodes", "2",
                 "-o", str(tmp_path / "b")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "counts ns" in err[-1]


def test_a_timed_bench_reports_latency_delay_and_misses_on_device_time(tmp_path: Path) -> None:
    """qemu-m4 at 1 MHz: the int8 policy's ~8k instructions take several ms, so actions land
    late; the report says how late, in physics steps of 1 ms (--physics-substeps 10)."""
    out = tmp_path / "run"
    assert main(["-q", "bench", "--model", str(ROOT / "models" / "HalfCheetah-v5"), "--target",
                 "qemu-m4", "--variants", "float,int8", "--episodes", "1", "--timing", "device",
                 "--clock-hz", "1M", "--physics-substeps", "10", "--calib-episodes", "2",
                 "-o", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["timing"]["mode"] == "device" and report["timing"]["physics_step_s"] == 0.001
    int8 = next(v for v in report["variants"] if v["name"] == "int8")
    cycles = int8["device_cost"]["median"] * report["timing"]["cycles_per_unit"]["int8"]
    assert int8["timing"]["latency_us"]["median"] == pytest.approx(cycles, rel=1e-3)  # 1 MHz
    assert int8["timing"]["delay_steps"]["median"] == np.ceil(cycles / 1000)
    assert int8["deadline_misses_judged_on"].startswith("device time")
    assert "Time in the loop" in (out / "summary.md").read_text()


def test_lowest_clock_is_the_bottom_of_the_clocks_that_keep_it() -> None:
    from qhil.harness.clock_sweep import lowest_clock

    def row(mhz: float, pct: float | None, misses: int = 0) -> dict:
        return {"clock_hz": mhz * 1e6, "percent_of_float": pct, "misses": misses}

    assert lowest_clock([row(8, 60), row(16, 96), row(24, 99), row(168, 100)]) == 16e6
    assert lowest_clock([row(8, 99, misses=3), row(16, 96), row(168, 100)]) == 16e6
    assert lowest_clock([row(8, 99), row(16, 90), row(168, 100)]) == 168e6  # not below a gap
    assert lowest_clock([row(8, 99), row(168, 94.9)]) is None
    assert lowest_clock([row(8, None), row(168, 100)]) == 168e6


def test_a_clock_sweep_decides_from_its_own_rows_and_checks_on_the_device(tmp_path: Path,
                                                                          capsys) -> None:
    """A small sweep end to end (InvertedPendulum on qemu-m4): the search rows, the decision
    recomputed from them, the chosen clock and the next lower one run on the device, the
    plot and the sentence."""
    from qhil.harness.clock_sweep import lowest_clock

    out = tmp_path / "sweep"
    assert main(["-q", "bench", "--model", str(ROOT / "models" / "InvertedPendulum-v5"),
                 "--target", "qemu-m4", "--variants", "int8", "--episodes", "2",
                 "--clock-sweep", "250k,2M,168M", "--sweep-episodes", "3",
                 "--physics-substeps", "4", "--calib-episodes", "2", "-o", str(out)]) == 0
    doc = json.loads((out / "sweep.json").read_text())
    rows = doc["search"]["rows"]
    assert [r["clock_hz"] for r in rows] == [250e3, 2e6, 168e6]
    assert doc["decision"]["int8"] == lowest_clock(rows) == 2e6
    assert rows[0]["misses"] > 0  # 0.25 MHz: ~47 ms for a 40 ms period
    runs = doc["device"]["runs"]
    assert [(r["clock_hz"], r["chosen"]) for r in runs] == [(2e6, True), (250e3, False)]
    # named by the blob: a re-exported int8 would run again, not meet "the models changed"
    assert re.fullmatch(r"device/int8-[0-9a-f]{8}@2MHz", runs[0]["folder"])
    assert all(r["bit_exact"]["mismatches"] == 0 for r in runs)
    assert runs[0]["deadline_misses"] == 0 and runs[1]["deadline_misses"] > 0
    assert (out / "clock_sweep.png").stat().st_size > 10_000
    assert "int8 needs 2 MHz; at 0.25 MHz it does not" in capsys.readouterr().out
    # run again in a "fresh clone" (the device runs' folders hold only their report.json):
    # everything is saved, nothing is recomputed or run
    for run_json in (out / "device").glob("*/run.json"):
        run_json.unlink()
    before = {p: p.stat().st_mtime_ns for p in (out / "search").glob("*.json")}
    assert main(["-q", "bench", "--model", str(ROOT / "models" / "InvertedPendulum-v5"),
                 "--target", "qemu-m4", "--variants", "int8", "--episodes", "2",
                 "--clock-sweep", "250k,2M,168M", "--sweep-episodes", "3",
                 "--physics-substeps", "4", "--calib-episodes", "2", "-o", str(out)]) == 0
    assert {p: p.stat().st_mtime_ns for p in (out / "search").glob("*.json")} == before
    assert not list((out / "device").glob("*/run.json"))
    assert json.loads((out / "sweep.json").read_text())["device"]["runs"] == runs


def test_a_sweep_without_the_device_runs_says_its_decision_is_unconfirmed(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    assert main(["-q", "bench", "--model", str(ROOT / "models" / "InvertedPendulum-v5"),
                 "--target", "qemu-m4", "--variants", "int8", "--clock-sweep", "250k,2M",
                 "--sweep-episodes", "2", "--physics-substeps", "4", "--calib-episodes", "2",
                 "--sweep-no-device", "-o", str(out)]) == 0
    doc = json.loads((out / "sweep.json").read_text())
    assert doc["device"] == {"skipped": True} and doc["decision"]["int8"] == 2e6
    assert not (out / "device").exists()
    assert "unconfirmed on the test seeds" in (out / "summary.md").read_text()
    # the device's counts are kept for the firmware and blobs they were measured with:
    # another firmware (here a forged hash and count) is measured again
    from qhil.targets.firmware import firmware_source_hash

    measured = out / "measured.json"
    saved = json.loads(measured.read_text())
    assert saved["key"]["firmware_sha256"] == firmware_source_hash()
    saved["key"]["firmware_sha256"], saved["costs"]["int8"] = "0" * 16, 1.0
    measured.write_text(json.dumps(saved))
    assert main(["-q", "bench", "--model", str(ROOT / "models" / "InvertedPendulum-v5"),
                 "--target", "qemu-m4", "--variants", "int8", "--clock-sweep", "250k,2M",
                 "--sweep-episodes", "2", "--physics-substeps", "4", "--calib-episodes", "2",
                 "--sweep-no-device", "-o", str(out)]) == 0
    again = json.loads(measured.read_text())
    assert again["key"]["firmware_sha256"] == firmware_source_hash()
    assert again["costs"]["int8"] > 1000


def test_a_clock_sweep_on_the_native_target_is_refused(capsys, tmp_path: Path) -> None:
    code = main(["-q", "bench", "--model", str(ROOT / "models" / "InvertedPendulum-v5"),
                 "--target", "native", "--variants", "int8", "--clock-sweep", "8M,16M",
                 "--calib-episodes", "2", "-o", str(tmp_path / "s")])
    assert code == 2 and "counts ns" in capsys.readouterr().err.strip().splitlines()[-1]


def test_a_sweep_with_float32_device_runs_exits_on_mismatches_only() -> None:
    """device-f32 runs carry no bit-exact count (null): the exit status counts the
    integer runs' mismatches, and a null is not an error."""
    from qhil.cli.bench_cmd import sweep_mismatches

    runs = [{"variant": "device-f32", "bit_exact": None},
            {"variant": "int8", "bit_exact": {"checked_steps": 10, "mismatches": 0}}]
    assert sweep_mismatches({"device": {"runs": runs}}) == 0
    runs.append({"variant": "qat_w3", "bit_exact": {"checked_steps": 10, "mismatches": 2}})
    assert sweep_mismatches({"device": {"runs": runs}}) == 2
    assert sweep_mismatches({"device": {"skipped": True}}) == 0
