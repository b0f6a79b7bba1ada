"""The quadrotor (issue 31): qhil's numpy dynamics equal drone-models' own, the physics is
sane (hover, free fall, no torque from equal motors), episodes repeat per seed, and the
latency model splits its physics steps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qhil.common.envs import make_env
from qhil.common.quadrotor import CF2X_L250, ENV_ID, QuadrotorHover, cross3, derivatives, euler_to_quat
from qhil.common.timing import Plant, has_physics_substeps

ROOT = Path(__file__).resolve().parents[1]

COMPARE = """
import json, sys
import numpy as np
from drone_models.core import parametrize
from drone_models.first_principles import dynamics
cases = json.loads(sys.stdin.read())
f = parametrize(dynamics, "cf2x_L250")
out = []
for c in cases:
    _, _, vd, wd, rd = f(np.zeros(3), np.array(c["quat"]), np.array(c["vel"]),
                         np.array(c["ang_vel"]), np.array(c["cmd"]), np.array(c["rotor"]))
    out.append({"acc": vd.tolist(), "ang_acc": wd.tolist(), "rotor_dot": rd.tolist()})
print(json.dumps(out))
"""


def test_the_numpy_dynamics_equal_drone_models_on_random_states_and_commands() -> None:
    """drone-models (a dev dependency: casadi and scipy, ~390 MB) in a process of its own,
    since it needs SCIPY_ARRAY_API=1 before scipy loads."""
    rng = np.random.default_rng(0)
    cases = []
    for _ in range(200):
        cases.append({"quat": euler_to_quat(*rng.uniform(-np.pi, np.pi, 3)).tolist(),
                      "vel": rng.normal(0, 2, 3).tolist(), "ang_vel": rng.normal(0, 5, 3).tolist(),
                      "rotor": rng.uniform(5_000, 30_000, 4).tolist(),
                      "cmd": rng.uniform(5_000, 30_000, 4).tolist()})
    proc = subprocess.run([sys.executable, "-c", COMPARE], input=json.dumps(cases),
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "SCIPY_ARRAY_API": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    theirs = json.loads(proc.stdout)
    for case, want in zip(cases, theirs, strict=True):
        acc, ang_acc, rotor_dot = derivatives(np.array(case["quat"]), np.array(case["vel"]),
                                              np.array(case["ang_vel"]), np.array(case["rotor"]),
                                              np.array(case["cmd"]))
        np.testing.assert_allclose(acc, want["acc"], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ang_acc, want["ang_acc"], rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(rotor_dot, want["rotor_dot"], rtol=1e-12, atol=1e-9)


def test_the_fast_cross_product_is_numpys_bit_for_bit() -> None:
    """Every stored quadrotor figure was measured with np.cross: its replacement must not
    move one bit of a trajectory."""
    rng = np.random.default_rng(0)
    for _ in range(2000):
        a, b = rng.normal(size=(2, 3)) * 10.0 ** rng.integers(-8, 8, size=(2, 1))
        assert np.array_equal(cross3(a, b), np.cross(a, b))


def test_hover_thrust_equals_the_weight_and_holds_still() -> None:
    env = QuadrotorHover()
    level = np.array([0.0, 0.0, 0.0, 1.0])
    rotor = np.full(4, env.hover_rpm)
    acc, ang_acc, rotor_dot = derivatives(level, np.zeros(3), np.zeros(3), rotor, rotor)
    a0, a1, a2 = CF2X_L250["rpm2thrust"]
    thrust = 4 * (a0 + a1 * env.hover_rpm + a2 * env.hover_rpm ** 2)
    assert thrust == pytest.approx(CF2X_L250["mass"] * CF2X_L250["gravity"], rel=1e-12)
    assert np.abs(acc).max() < 1e-12 and np.abs(ang_acc).max() < 1e-9
    assert np.abs(rotor_dot).max() == 0.0
    # commanded through the action interface: the hover action keeps it in place
    env.reset(seed=0)
    env.pos, env.vel, env.quat, env.ang_vel = (np.array([0.0, 0.0, 1.0]), np.zeros(3), level,
                                               np.zeros(3))
    for _ in range(500):  # one second
        env.step(np.full(4, env.hover_action))
    assert np.abs(env.pos - [0, 0, 1]).max() < 1e-9


def test_free_fall_accelerates_at_g() -> None:
    acc, _, _ = derivatives(np.array([0.0, 0.0, 0.0, 1.0]), np.zeros(3), np.zeros(3),
                            np.zeros(4), np.zeros(4))
    np.testing.assert_allclose(acc, [0, 0, -CF2X_L250["gravity"]], atol=1e-15)


def test_equal_motors_give_no_torque_at_any_attitude() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        quat = euler_to_quat(*rng.uniform(-1, 1, 3))
        speed = np.full(4, rng.uniform(8_000, 25_000))
        _, ang_acc, _ = derivatives(quat, rng.normal(0, 1, 3), np.zeros(3), speed, speed)
        assert np.abs(ang_acc).max() < 1e-9


def test_episodes_repeat_per_seed_and_differ_between_seeds() -> None:
    def trajectory(seed: int) -> np.ndarray:
        env = make_env(ENV_ID)
        obs, _ = env.reset(seed=seed)
        rng = np.random.default_rng(5)
        seen = [obs]
        for _ in range(200):
            obs, *_ = env.step(rng.uniform(0.1, 0.3, 4))
            seen.append(obs)
        return np.stack(seen)

    np.testing.assert_array_equal(trajectory(100_000), trajectory(100_000))
    assert not np.allclose(trajectory(100_000)[0], trajectory(100_001)[0])
    env = make_env(ENV_ID)
    obs, _ = env.reset(seed=3)
    roll_pitch = np.degrees(np.arccos(np.clip(obs[14], -1, 1)))  # R[2][2]: tilt
    assert obs.shape == (22,) and roll_pitch <= 45 and np.linalg.norm(obs[:3]) <= np.sqrt(3) * 0.5


def test_the_latency_model_splits_its_physics_steps() -> None:
    """500 Hz control of 4 physics steps of 0.5 ms; --physics-substeps 5 makes them 0.1 ms,
    and a 0.35 ms latency holds the previous command for 4 of the 20."""
    env = make_env(ENV_ID)
    assert has_physics_substeps(env)
    plant = Plant(env, physics_substeps=5)
    assert plant.frames == 20 and plant.physics_dt == pytest.approx(1e-4)
    assert plant.period == pytest.approx(0.002) and plant.delay(0.35e-3) == 4
    lock = make_env(ENV_ID)
    Plant.substeps_only(lock, 5)
    from qhil.common.episode import FunctionPolicy, run_episode

    hover = FunctionPolicy(lambda obs: np.full(4, 0.22) - 0.3 * obs[2])
    timed = run_episode(hover, env, seed=7, plant=plant, latency=lambda: 0.0, max_steps=300)
    plain = run_episode(hover, lock, seed=7, max_steps=300)
    assert timed.ret == plain.ret
    assert "position_error_m" in plain.metrics and plain.metrics["position_error_m"] >= 0


def test_the_crazyflie_profile_is_chosen_by_name_and_prices_flight_energy() -> None:
    from qhil.common.errors import ConfigError
    from qhil.targets.power import BOARD_PROFILES, platform_share, resolve_profile

    cf = resolve_profile("crazyflie21")
    assert cf is BOARD_PROFILES["crazyflie21"] and cf.clock_hz == 168_000_000
    assert [cf.wait_states_at(f * 1e6) for f in (24, 48, 84, 100, 144, 168)] == [0, 1, 2, 3, 4, 5]
    # 3.0 V x 238 uA/MHz: 0.714 nJ a cycle at any clock; 250 mAh x 3.7 V = 3330 J
    assert cf.energy_per_cycle_j == pytest.approx(0.714e-9)
    assert cf.battery_j == pytest.approx(3330.0)
    with pytest.raises(ConfigError, match="neither a built-in profile"):
        resolve_profile("crazyflie2")
    # hover takes the four rotors' torque x speed: ~4.4 W for a 32 g Crazyflie
    power = QuadrotorHover().qhil_platform_power_w
    assert 3.5 < power < 5.5
    # 50,000 cycles an action at 500 Hz: 35.7 uJ -> 17.85 mW, 0.41 % of the hover power
    share = platform_share(50_000 * cf.energy_per_cycle_j * 1e6, 0.002, power, cf)
    assert share["inference_mw"] == pytest.approx(17.85, rel=1e-4)
    assert share["percent_of_platform"] == pytest.approx(100 * 0.01785 / power, rel=1e-4)
    minutes = 3330.0 / power / 60
    assert share["battery_minutes"] == pytest.approx(3330.0 / (power + 0.01785) / 60, rel=1e-4)
    assert share["battery_minutes_lost"] == pytest.approx(minutes - share["battery_minutes"],
                                                          abs=1e-3)


def test_the_pd_expert_hovers_from_tilted_starts() -> None:
    """The env is flyable from its observation: the controller `--set imitate` clones
    holds every episode for 5 s within 0.25 m RMS."""
    env = QuadrotorHover()
    for seed in (3, 11):
        obs, _ = env.reset(seed=seed)
        squares, done, terminated = [], False, False
        while not done:
            obs, _, terminated, truncated, info = env.step(env.qhil_expert(obs))
            squares.append(info["qhil_metric_sq"]["position_error_m"])
            done = terminated or truncated
        assert not terminated and len(squares) == 2500
        assert np.sqrt(np.mean(squares[-500:])) < 0.25


def test_ladder_options_shape_the_observation_and_the_period() -> None:
    env = QuadrotorHover(action_history=3, control_hz=250, max_tilt_deg=15.0)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (18 + 12,) and env.frame_skip == 8 and env.dt == pytest.approx(0.004)
    first, second = np.full(4, 0.1), np.full(4, -0.2)
    env.step(first)
    obs, *_ = env.step(second)
    np.testing.assert_allclose(obs[18:22], second)  # newest first
    np.testing.assert_allclose(obs[22:26], first)
    steps = 1
    while not env.step(np.full(4, env.hover_action))[3]:
        steps += 1
    assert steps == 1250 - 2  # truncated by the env itself at 5 s, at any rate
    for bad in ({"action_history": 0}, {"control_hz": 300}, {"max_tilt_deg": 0.0}):
        with pytest.raises(ValueError):
            QuadrotorHover(**bad)  # type: ignore[arg-type]


def test_the_curriculum_scales_only_the_penalties() -> None:
    env = QuadrotorHover()
    rewards = []
    for progress in (0.0, 1.0):
        env.qhil_curriculum(progress)
        env.reset(seed=5)
        rewards.append(env.step(np.full(4, 0.3))[1])
    assert rewards[0] > rewards[1] and 1 - rewards[0] == pytest.approx((1 - rewards[1]) / 10)


def test_imitation_clones_the_expert_and_sets_the_normalization(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from qhil.train import imitate

    monkeypatch.setattr(imitate, "EPISODES_PER_ROUND", 1)
    venv = VecNormalize(DummyVecEnv([lambda: make_env(ENV_ID)]))
    model = PPO("MlpPolicy", venv, seed=0, device="cpu", n_steps=64, batch_size=64)
    errors: list[float] = []
    imitate.clone_expert(model, venv, ENV_ID, 2, 0, lambda r, n, err: errors.append(err))
    assert len(errors) == 2 and errors[-1] < 0.05  # mean |action error|, actions in [-1, 1]
    assert venv.obs_rms.count > 2000 and venv.obs_rms.mean[2] != 0.0
    assert venv.ret_rms.var > 0.0


def test_the_shipped_policy_flies_on_the_crazyflies_mcu_with_its_latency(tmp_path: Path) -> None:
    """models/QuadrotorHover-v0 closed loop on qemu-stm32f4 priced as a Crazyflie 2.1, each
    action landing after the device's own latency at 168 MHz (--timing device): every
    answer bit-exact, no deadline missed at 500 Hz, the episode flown to its end."""
    from qhil.cli.main import main

    model = ROOT / "models" / "QuadrotorHover-v0"
    out = tmp_path / "run"
    assert main(["-q", "bench", "--model", str(model), "--target", "qemu-stm32f4",
                 "--board-profile", "crazyflie21", "--timing", "device", "--variants", "float",
                 "--blob", str(model / "int8.qhil"), "--blob", str(model / "qat_w3.qhil"),
                 "--episodes", "1", "-o", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["control_period_s"] == pytest.approx(0.002)
    for variant in report["variants"][1:]:
        assert variant["bit_exact"] == {"checked_steps": 2500, "mismatches": 0, "examples": []}
        assert variant["deadline_misses"] == 0 and variant["early_terminations"] == 0
        assert variant["deadline_misses_judged_on"].startswith("device time")
        assert 0 < variant["timing"]["latency_us"]["max"] < 2000
        assert variant["task_metrics"]["position_error_m"] < 0.6
        platform = variant["energy"]["platform"]
        assert platform["platform_w"] == pytest.approx(4.38, abs=0.01)
        assert 0 < platform["percent_of_platform"] < 1
    assert "Flight energy" in (out / "summary.md").read_text()
