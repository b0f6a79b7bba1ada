"""qhil import: policies trained elsewhere (stable-baselines3, ONNX, PyTorch, a user's own
env), quantized and run bit-exactly on the emulated Cortex-M4; and every refusal in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

QHIL = [sys.executable, "-m", "qhil.cli.main"]
TEST_EPISODES = "2"

USER_ENV = '''
"""A user's own environment: a point mass pushed towards a target on a line."""
import gymnasium as gym
import numpy as np


class PointMass(gym.Env):
    def __init__(self, target: float = 0.5) -> None:
        self.target = target
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float64)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x, self.v, self.t = float(self.np_random.uniform(-1, 1)), 0.0, 0
        return np.array([self.x - self.target, self.v]), {}

    def step(self, action):
        self.v = 0.9 * self.v + 0.1 * float(np.clip(action[0], -1, 1))
        self.x += 0.1 * self.v
        self.t += 1
        obs = np.array([self.x - self.target, self.v])
        return obs, -abs(self.x - self.target), False, self.t >= 100, {}


def make(target: float = 0.5) -> PointMass:
    return PointMass(target)
'''


def _qhil(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([*QHIL, *args], cwd=cwd, capture_output=True, text=True, env=env,
                          timeout=600, check=False)


def _import(cwd: Path, name: str, *source: str, env: str = "Pendulum-v1") -> dict:
    proc = _qhil("import", *source, "--env", env, "-o", name, "--test-episodes", TEST_EPISODES,
                 cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    meta = json.loads((cwd / name / "meta.json").read_text())
    assert meta["provenance"].startswith("imported from ")
    assert meta["source"]["checked_observations"] == 1000
    assert meta["source"]["max_abs_action_error"] <= 1e-5
    assert len(meta["source"]["sha256"]) == 64 and meta["eval"]["episodes"] == 2
    return meta


def _bench_bit_exact(cwd: Path, name: str, variants: str = "float,int8,w4a4") -> dict:
    """int8 and w4a4 of the imported model on qemu-m4: every answer equals the golden model."""
    proc = _qhil("-q", "bench", "--model", name, "--target", "qemu-m4", "--variants",
                 variants, "--episodes", "1", "--calib-episodes", "3", "-o", f"{name}-bench",
                 cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((cwd / f"{name}-bench" / "report.json").read_text())
    quantized = [v for v in report["variants"] if v["kind"] == "device-int"]
    assert [v["name"] for v in quantized] == ["int8", "w4a4"]
    for v in quantized:
        assert v["bit_exact"]["mismatches"] == 0, v["name"]
        assert v["bit_exact"]["checked_steps"] > 0
    return report


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("import")


def test_sb3_ppo_with_tanh_hidden_layers(work: Path) -> None:
    from stable_baselines3 import PPO

    PPO("MlpPolicy", "Pendulum-v1", n_steps=512, batch_size=128, n_epochs=2, seed=0,
        device="cpu").learn(2048).save(work / "ppo.zip")
    meta = _import(work, "ppo", "--sb3", "ppo.zip")
    assert meta["algo"] == "sb3-ppo" and meta["activations"] == ["tanh", "tanh"]
    assert meta["output"] == "clip"
    report = _bench_bit_exact(work, "ppo", "float,device-f32,int8,w4a4")
    f32 = next(v for v in report["variants"] if v["name"] == "device-f32")  # tanhf on the M4F
    assert f32["f32_max_abs_error"] <= 1e-4


def test_sb3_sac(work: Path) -> None:
    from stable_baselines3 import SAC

    SAC("MlpPolicy", "Pendulum-v1", learning_starts=200, train_freq=8, seed=0, device="cpu",
        policy_kwargs={"net_arch": [32, 32]}).learn(2000).save(work / "sac.zip")
    meta = _import(work, "sac", "--sb3", "sac.zip")
    assert meta["algo"] == "sb3-sac" and meta["activations"] == ["relu", "relu"]
    assert meta["output"] == "tanh"
    _bench_bit_exact(work, "sac")


def test_sb3_a2c_with_vecnormalize_on_mujoco(work: Path) -> None:
    from stable_baselines3 import A2C
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    venv = VecNormalize(make_vec_env("InvertedPendulum-v5", n_envs=1, seed=0), clip_obs=5.0)
    A2C("MlpPolicy", venv, n_steps=16, seed=0, device="cpu").learn(1500).save(work / "a2c.zip")
    venv.save(str(work / "vecnormalize.pkl"))
    meta = _import(work, "a2c", "--sb3", "a2c.zip", "--vecnormalize", "vecnormalize.pkl",
                   env="InvertedPendulum-v5")
    assert meta["algo"] == "sb3-a2c" and meta["obs_clip"] == 5.0
    assert meta["source"]["vecnormalize"] == "vecnormalize.pkl"
    actor = np.load(work / "a2c" / "actor.npz")
    np.testing.assert_allclose(actor["obs_mean"], venv.obs_rms.mean)
    _bench_bit_exact(work, "a2c")


class _ScaledActor(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, 32), nn.Tanh(), nn.Linear(32, 32), nn.ReLU(),
                                 nn.Linear(32, 1), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) * 2.0  # Pendulum's bounds, scaled by the graph itself


def test_onnx_export_of_a_torch_mlp(work: Path) -> None:
    torch.manual_seed(0)
    torch.onnx.export(_ScaledActor(), (torch.zeros(1, 3),), str(work / "actor.onnx"),
                      input_names=["obs"], dynamic_axes={"obs": {0: "batch"}})
    meta = _import(work, "onnx", "--onnx", "actor.onnx")
    assert meta["algo"] == "onnx" and meta["activations"] == ["tanh", "relu"]
    assert meta["source"]["checked_with"].startswith("onnxruntime")
    _bench_bit_exact(work, "onnx")


class _CleanRLActor(nn.Module):
    """CleanRL's TD3 actor, as its td3_continuous_action.py defines it."""

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        self.fc1, self.fc2, self.fc_mu = nn.Linear(3, width), nn.Linear(width, width), nn.Linear(width, 1)
        self.register_buffer("action_scale", torch.tensor([2.0]))
        self.register_buffer("action_bias", torch.tensor([0.0]))


def test_cleanrl_state_dict(work: Path) -> None:
    torch.manual_seed(1)
    torch.save(_CleanRLActor().state_dict(), work / "cleanrl.pt")
    meta = _import(work, "cleanrl", "--torch", "cleanrl.pt")
    assert meta["algo"] == "cleanrl-td3" and meta["output"] == "tanh"
    _bench_bit_exact(work, "cleanrl")


def test_cleanrl_sac_through_the_api(work: Path) -> None:
    import qhil.api as qhil

    class SacActor(nn.Module):  # CleanRL's sac_continuous_action.py: fc_mean, fc_logstd
        def __init__(self) -> None:
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(3, 32), nn.Linear(32, 32)
            self.fc_mean, self.fc_logstd = nn.Linear(32, 1), nn.Linear(32, 1)
            self.register_buffer("action_scale", torch.tensor([2.0]))
            self.register_buffer("action_bias", torch.tensor([0.0]))

    torch.manual_seed(3)
    torch.save(SacActor().state_dict(), work / "sac_cleanrl.pt")
    model = qhil.import_policy(work / "sac_api", "Pendulum-v1", torch=work / "sac_cleanrl.pt",
                               test_episodes=2)
    assert model.meta["algo"] == "cleanrl-sac" and model.actor.layer_sizes == [3, 32, 32, 1]
    np.testing.assert_allclose(model.actor.action_high, [2.0])


def test_torchscript_policy_on_a_user_env(work: Path) -> None:
    (work / "my_envs.py").write_text(textwrap.dedent(USER_ENV))
    torch.manual_seed(2)
    script = torch.jit.script(nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 16),
                                            nn.Tanh(), nn.Linear(16, 1)))
    script.save(str(work / "script.pt"))
    proc = _qhil("import", "--torch", "script.pt", "--env", "my_envs:make", "--env-kwargs",
                 '{"target": 0.25}', "-o", "user", "--test-episodes", TEST_EPISODES, cwd=work)
    assert proc.returncode == 0, proc.stderr
    meta = json.loads((work / "user" / "meta.json").read_text())
    assert meta["env_id"] == 'my_envs:make {"target":0.25}'  # the env reference
    assert meta["algo"] == "torchscript" and meta["activations"] == ["tanh", "tanh"]
    report = _bench_bit_exact(work, "user")
    assert report["env_id"] == meta["env_id"]


@pytest.mark.parametrize("case", ["onnx-node", "discrete", "image", "too-big", "mismatch",
                                  "no-source"])
def test_refusals_are_one_line_and_exit_2(work: Path, case: str) -> None:
    if case == "onnx-node":
        class Sig(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.fc = nn.Linear(3, 1)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return torch.sigmoid(self.fc(x))
        torch.onnx.export(Sig().eval(), (torch.zeros(1, 3),), str(work / "sig.onnx"))
        args, needle = ["import", "--onnx", "sig.onnx", "--env", "Pendulum-v1", "-o", "x"], "Sigmoid"
    elif case == "discrete":
        torch.save(_CleanRLActor().state_dict(), work / "d.pt")
        args, needle = ["import", "--torch", "d.pt", "--env", "CartPole-v1", "-o", "x"], "Discrete"
    elif case == "image":
        torch.save(_CleanRLActor().state_dict(), work / "d.pt")
        args, needle = ["import", "--torch", "d.pt", "--env", "CarRacing-v3", "-o", "x"], "no images"
    elif case == "mismatch":  # a Pendulum actor offered for HalfCheetah
        torch.save(_CleanRLActor().state_dict(), work / "d.pt")
        args, needle = ["import", "--torch", "d.pt", "--env", "HalfCheetah-v5", "-o", "x"], "17"
    elif case == "no-source":
        args, needle = ["import", "--env", "Pendulum-v1", "-o", "x"], "exactly one of"
    else:  # 256-wide layers: 67 KB int8, the micro:bit's arena is 9 KB and 64 wide
        torch.save(_CleanRLActor(256).state_dict(), work / "big.pt")
        made = _import(work, "big", "--torch", "big.pt")
        assert made["layer_sizes"] == [3, 256, 256, 1]
        args, needle = (["bench", "--model", "big", "--target", "qemu-m0", "--variants", "int8",
                         "--episodes", "1", "--calib-episodes", "2", "-o", "big-bench"],
                        "bytes of model arena")
    proc = _qhil(*args, cwd=work)
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("qhil: error:")]
    assert len(lines) == 1 and needle in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    if case == "too-big":  # where the memory allows, the same 256-wide model runs
        _bench_bit_exact(work, "big")


def test_the_float32_slack_covers_rounding_and_not_a_wrong_actor() -> None:
    """The check's allowance is float32 rounding: a float32 evaluation of the actor stays
    inside it, a weight off by 1e-3 of its size does not."""
    import dataclasses

    from qhil.common.model_dir import load_model_dir
    from qhil.train.importer import check_observations, float32_slack

    actor = load_model_dir(Path(__file__).resolve().parents[1] / "models" / "Pendulum-v1").actor
    obs = check_observations(actor, "Pendulum-v1", count=200)
    slack = float32_slack(actor, obs)
    h = actor.normalize(obs).astype(np.float32)
    for i, (w, b) in enumerate(zip(actor.weights, actor.biases, strict=True)):
        h = h @ w.T + b
        if i < len(actor.weights) - 1:
            h = np.maximum(h, np.float32(0)) if actor.activations[i].value == "relu" else np.tanh(h)
    in_f32 = actor.unsquash(np.tanh(h.astype(np.float64)) if actor.output == "tanh" else h)
    assert np.all(np.abs(in_f32 - actor.act(obs)) <= slack + 1e-12)
    wrong = dataclasses.replace(actor, weights=(actor.weights[0] * np.float32(1.001),
                                                *actor.weights[1:]))
    assert np.max(np.abs(wrong.act(obs) - actor.act(obs)) - slack) > 1e-5
