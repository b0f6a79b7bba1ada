"""Quantization-aware training: what is trained is what the device runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from qhil.cli.main import main
from qhil.quant.blob import read_blob
from qhil.quant.policy import QuantPolicy, quantize_obs
from qhil.targets import start_target

PENDULUM = Path(__file__).resolve().parents[1] / "models" / "Pendulum-v1"


def assert_bit_exact_on_native(blob: Path, seed: int, count: int) -> None:
    """The exported blob on the native firmware answers as the golden executor, on
    ``count`` random Pendulum observations."""
    model = read_blob(blob.read_bytes())
    policy = QuantPolicy(model)  # type: ignore[arg-type]
    obs = np.random.default_rng(seed).uniform([-1, -1, -8], [1, 1, 8], size=(count, 3))
    with start_target("native") as target:
        target.device.load(blob.read_bytes())
        for o in obs:
            x = quantize_obs(model, o)  # type: ignore[arg-type]
            np.testing.assert_array_equal(target.device.infer(x)[0],
                                          policy.executor.action_codes(x))


def test_qat_export_matches_simulation_and_runs_bit_exact(tmp_path: Path) -> None:
    out = tmp_path / "p.qhil"
    assert main(["-q", "qat", "--model", str(PENDULUM), "--bits", "w=3,3,3 a=3,3,8 in=12",
                 "--iterations", "3", "--grad-steps", "100", "--calib-episodes", "5",
                 "-o", str(out)]) == 0
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["agreement_with_simulation"] >= 0.999
    assert side["method"] == "qat-dagger" and len(side["validation_curve"]) == 4
    # three short iterations already beat post-training quantization on validation seeds
    assert side["best_validation_return"] > side["ptq_validation_return"]
    # the held-out protocol: the seeds of every split, the paired test comparison
    assert side["seeds"]["validation"] == "10000..10019"
    assert side["seeds"]["test"] == "100000..100099" and side["test"]["episodes"] == 100
    assert side["float_test"]["seeds"] == side["test"]["seeds"]
    lo, hi = side["comparison"]["interval95"]
    assert lo <= side["percent_of_float"] <= hi
    assert_bit_exact_on_native(out, seed=0, count=40)


def test_rl_finetuning_trains_the_quantized_actor_in_the_loop(tmp_path: Path) -> None:
    """Mode (b): TD3 with the fake-quant actor; the export still equals its simulation."""
    import torch

    from qhil.common.model_dir import load_model_dir
    from qhil.quant.config import parse_bits
    from qhil.quant.fakequant import FakeQuantActor
    from qhil.quant.pipeline import Calibrator, PTQOptions
    from qhil.train.qat_rl import rl_finetune
    from qhil.train.settings import RLArgs

    model = load_model_dir(PENDULUM)
    bits = parse_bits("w=3,3,3 a=3,3,8 in=12", 3)
    student = FakeQuantActor(model.actor, Calibrator(model, PTQOptions(3)).params(bits), bits)
    before = [w.detach().clone() for w in student.weights]
    seen: list[int] = []
    rl_finetune(model, student, RLArgs(steps=600, critic_warmup=300, eval_every=300),
                on_eval=seen.append)
    assert seen == [300, 600]
    # frozen during the critic warm-up, trained after it
    assert any(not torch.equal(a, b) for a, b in zip(before, student.weights, strict=True))

    out = tmp_path / "rl.qhil"
    assert main(["-q", "qat", "--model", str(PENDULUM), "--bits", "w=3,3,3 a=3,3,8 in=12",
                 "--iterations", "1", "--grad-steps", "50", "--calib-episodes", "3",
                 "--rl-steps", "400", "--rl-warmup", "200", "--rl-eval-every", "200",
                 "--finalists", "1", "--average-last", "0", "--select-episodes", "3",
                 "-o", str(out)]) == 0
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["args"]["rl_steps"] == 400 and len(side["validation_curve"]) == 2 + 2
    # RL's exports join the finalists beside the distilled one, never in its place
    names = [c["candidate"] for c in side["selection"]["finalists"]]
    assert names[0] == "iteration 1" and names[1].startswith("rl step ") and len(names) == 2
    assert side["agreement_with_simulation"] >= 0.999


def test_teacher_pull_keeps_the_actor_near_the_float_teacher() -> None:
    """--rl-bc-alpha (TD3+BC): at a learning rate where plain TD3 walks the young actor
    away from the teacher, the pull brings it nearer than it started. InvertedPendulum's
    MuJoCo observations are float64 in the replay buffer."""
    import torch

    from qhil.common.model_dir import load_model_dir
    from qhil.quant.config import parse_bits
    from qhil.quant.fakequant import FakeQuantActor
    from qhil.quant.pipeline import Calibrator, PTQOptions
    from qhil.train.qat_rl import rl_finetune
    from qhil.train.settings import RLArgs

    model = load_model_dir(PENDULUM.parent / "InvertedPendulum-v5")
    bits = parse_bits("w=3,3,3 a=3,3,8 in=12", 3)
    params = Calibrator(model, PTQOptions(3)).params(bits)
    obs = torch.as_tensor(np.random.default_rng(0).uniform(-1, 1, (512, 4)), dtype=torch.float32)
    teacher = torch.as_tensor(model.actor.squashed(obs.numpy()), dtype=torch.float32)

    def distance(student: FakeQuantActor) -> float:
        with torch.no_grad():
            return float(((student(obs) - teacher) ** 2).mean())

    start = distance(FakeQuantActor(model.actor, params, bits))

    def distance_after(bc_alpha: float) -> float:
        student = FakeQuantActor(model.actor, params, bits)
        rl_finetune(model, student, RLArgs(steps=360, critic_warmup=280, eval_every=360,
                                           actor_learning_rate=3e-3, bc_alpha=bc_alpha),
                    on_eval=lambda step: None)
        return distance(student)

    pulled, free = distance_after(0.01), distance_after(0.0)
    assert pulled < start < free, (pulled, start, free)


def test_recipe_chooses_the_input_width_on_validation(tmp_path: Path) -> None:
    out = tmp_path / "auto.qhil"
    assert main(["-q", "qat", "--model", str(PENDULUM), "--bits", "w=3 a=3,3,8 in=auto",
                 "--iterations", "1", "--grad-steps", "10", "--calib-episodes", "3",
                 "--test-episodes", "2", "-o", str(out)]) == 0
    side = json.loads(out.with_suffix(".json").read_text())
    tried = {int(k): v for k, v in side["input_width_validation"].items()}
    assert sorted(tried) == [8, 10, 12, 16]
    best = max(tried.values())
    chosen = int(side["bits"].split("in=")[1].split()[0])
    # the narrowest width within 1 % of the best (Pendulum's returns are negative)
    assert chosen == min(w for w, r in tried.items() if best / r >= 0.99)


def test_learned_activation_steps_are_exported_and_match_the_simulation(tmp_path: Path) -> None:
    """--learn-scales trains each hidden layer's step (LSQ-style); the blob carries the
    learned steps (its multipliers differ from calibration's) and equals its simulation."""
    from qhil.common.model_dir import load_model_dir
    from qhil.quant.config import parse_bits
    from qhil.quant.pipeline import Calibrator, PTQOptions

    out = tmp_path / "lsq.qhil"
    assert main(["-q", "qat", "--model", str(PENDULUM), "--bits", "w=3,3,3 a=3,3,8 in=12",
                 "--iterations", "2", "--grad-steps", "100", "--calib-episodes", "3",
                 "--test-episodes", "2", "--learn-scales", "-o", str(out)]) == 0
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["args"]["learn_scales"] is True
    assert side["agreement_with_simulation"] >= 0.999
    import torch

    from qhil.quant.fakequant import FakeQuantActor

    model = load_model_dir(PENDULUM)
    bits = parse_bits("w=3,3,3 a=3,3,8 in=12", 3)
    calibrator = Calibrator(model, PTQOptions(3))
    params = calibrator.params(bits)
    student = FakeQuantActor(model.actor, params, bits, learn_scales=True)
    obs = torch.tensor(calibrator.observations[:256], dtype=torch.float32)
    loss = torch.mean((student(obs) - torch.tensor(model.actor.squashed(obs.numpy()))) ** 2)
    loss.backward()
    assert student.log_act_scales.grad is not None
    assert torch.all(student.log_act_scales.grad != 0)  # every step gets a gradient
    with torch.no_grad():
        student.log_act_scales -= 0.1  # finer steps: the export must follow them
    assert student.quant_params().act_scales != params.act_scales
    exported = student.export()
    calibration_scales = FakeQuantActor(model.actor, params, bits).export()
    assert any(not np.array_equal(a.mult, b.mult) or not np.array_equal(a.shift, b.shift)
               for a, b in zip(exported.layers, calibration_scales.layers, strict=True))


def test_widened_student_computes_what_the_teacher_computes() -> None:
    """Net2Net widening (train/widen.py): the wider actor's actions equal the teacher's on
    any observation, and the copies of a unit differ in their outgoing weights (so
    training can tell them apart); narrower or deeper students start fresh."""
    from qhil.common.model_dir import load_model_dir
    from qhil.train.widen import student_actor

    teacher = load_model_dir(PENDULUM).actor
    wide, init = student_actor(teacher, (100, 90), seed=3)
    assert init == "net2net" and wide.layer_sizes == [3, 100, 90, 1]
    obs = np.random.default_rng(0).uniform([-1, -1, -8], [1, 1, 8], size=(500, 3))
    np.testing.assert_allclose(wide.act(obs), teacher.act(obs), rtol=0, atol=2e-5)
    out = np.asarray(wide.weights[2][0], np.float64)
    assert len(np.unique(np.round(out, 6))) > 64  # the copies' shares differ
    assert student_actor(teacher, (32, 32))[1] == "random"
    assert student_actor(teacher, (64, 64, 64))[1] == "random"
    assert student_actor(teacher, None) == (teacher, "teacher")


def test_qat_distills_into_a_wider_student(tmp_path: Path) -> None:
    """qhil qat --hidden: a student wider than its teacher, exported and run bit-exact; the
    .json records its widths and how it started."""
    out = tmp_path / "wide.qhil"
    assert main(["-q", "qat", "--model", str(PENDULUM), "--bits", "w=3,3,3 a=3,3,8 in=12",
                 "--hidden", "96,80", "--iterations", "1", "--grad-steps", "50",
                 "--calib-episodes", "3", "--test-episodes", "2", "-o", str(out)]) == 0
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["hidden"] == [96, 80] and side["student_init"] == "net2net"
    assert side["agreement_with_simulation"] >= 0.999
    model = read_blob(out.read_bytes())
    assert [layer.weights.shape for layer in model.layers] == [(96, 3), (80, 96), (1, 80)]
    assert_bit_exact_on_native(out, seed=1, count=20)


def test_qat_repeats_bit_for_bit(tmp_path: Path) -> None:
    """Seeded rollouts, one torch thread: the same command writes the same export (what a
    re-measurement of a QAT figure relies on)."""
    blobs = []
    for run in ("a", "b"):
        out = tmp_path / f"{run}.qhil"
        assert main(["-q", "qat", "--model", str(PENDULUM), "--bits", "w=3,3,3 a=3,3,8 in=12",
                     "--iterations", "2", "--grad-steps", "30", "--calib-episodes", "3",
                     "--val-episodes", "2", "--test-episodes", "2", "-o", str(out)]) == 0
        blobs.append(out.read_bytes())
    assert blobs[0] == blobs[1]


def test_qat_student_of_another_depth_starts_fresh(tmp_path: Path) -> None:
    """--hidden of another depth: fresh weights, calibrated on the student; --bits counts
    the student's layers; still exported exactly as simulated."""
    out = tmp_path / "deep.qhil"
    assert main(["-q", "qat", "--model", str(PENDULUM), "--bits", "w4a4", "--hidden", "24",
                 "--iterations", "1", "--grad-steps", "20", "--calib-episodes", "3",
                 "--test-episodes", "2", "-o", str(out)]) == 0
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["hidden"] == [24] and side["student_init"] == "random"
    assert side["agreement_with_simulation"] >= 0.999


def test_finalists_meet_again_on_more_validation_episodes(tmp_path: Path) -> None:
    """--finalists: the best iterations and the average of the last ones are re-evaluated
    on --select-episodes validation episodes; the kept one is what the blob holds."""
    from qhil.common.evaluation import evaluate_policy
    from qhil.common.protocol import Split, split_seeds

    out = tmp_path / "f.qhil"
    assert main(["-q", "qat", "--model", str(PENDULUM), "--bits", "w=3,3,3 a=3,3,8 in=12",
                 "--iterations", "3", "--grad-steps", "50", "--calib-episodes", "3",
                 "--val-episodes", "3", "--test-episodes", "3", "--finalists", "2",
                 "--average-last", "2", "--select-episodes", "6", "-o", str(out)]) == 0
    side = json.loads(out.with_suffix(".json").read_text())
    sel = side["selection"]
    assert sel["episodes"] == 6 and sel["seeds"] == "10000..10005"
    # a run repeats bit for bit only on the same kind of CPU: the sidecar says which
    assert side["machine"]["cpu"] and side["machine"]["torch_cpu_capability"]
    names = [c["candidate"] for c in sel["finalists"]]
    assert len(names) == 3 and names[-1] == "average of iteration 2..iteration 3"
    kept = [c for c in sel["finalists"] if c["chosen"]]
    assert len(kept) == 1
    assert kept[0]["selection_return"] == max(c["selection_return"] for c in sel["finalists"])
    model = read_blob(out.read_bytes())
    again = evaluate_policy(QuantPolicy(model), "Pendulum-v1",  # type: ignore[arg-type]
                            split_seeds(Split.VALIDATION, 6), Split.VALIDATION).mean
    assert again == kept[0]["selection_return"]
    assert side["agreement_with_simulation"] >= 0.999
