"""``qhil qat``: quantization-aware training by distillation (DAgger) into a .qhil blob."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from tqdm import tqdm

from qhil.cli.base import non_negative_int, positive_int
from qhil.cli.options import add_ptq_options, ptq_options

NAMES = ("qat",)
HELP = ("quantization-aware training: distillation on the student's own states, "
        "optional TD3 fine-tuning")
DESCRIPTION = """\
Train an integer policy of the given widths to reproduce the float policy, on the states
the quantized policy itself visits (DAgger). The training graph rounds exactly where the
device does, so the exported blob runs bit-exactly what was trained. Each iteration adds
the student's own rollouts and rollouts with action noise (the states it reaches after a
mistake); the learning rate decays (cosine) to --lr-final x --lr. The export with the best
return on the validation seeds (10000..) is kept, then evaluated once on the test seeds
(100000.., 100 episodes) paired with the float actor: %% of float with a 95%% interval,
early terminations of both (docs/evaluation.md). With in=auto in --bits, the input width
is chosen on validation first (the narrowest of 8/10/12/16 bits whose 8-bit PTQ policy
reaches 99%% of the best of them).
With --rl-steps N (mode b), the distilled student is then fine-tuned by TD3 on the
env's reward for N steps, the fake-quant actor in the loop (a new critic learns alone
for --rl-warmup steps first); exports are kept only if validation improves.
Writes X.qhil and X.json (provenance, validation curve, test return, agreement).

example: qhil qat --model models/Pendulum-v1 --bits "w=3 a=3,3,8 in=auto" -o models/Pendulum-v1/qat_w3.qhil
"""

LOG = logging.getLogger(__name__)


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model folder (the float teacher)")
    parser.add_argument("--bits", required=True,
                        help="widths, e.g. w3a3 or 'w=8,3,8 a=8,3,8'; in=auto lets the recipe "
                             "choose the input width on validation")
    parser.add_argument("-o", "--out", required=True, help="output .qhil (a .json goes beside it)")
    parser.add_argument("--iterations", type=positive_int, default=60,
                        help="DAgger iterations (default: %(default)s)")
    parser.add_argument("--grad-steps", type=positive_int, default=1000,
                        help="gradient steps per iteration (default: %(default)s)")
    parser.add_argument("--lr", type=float, default=1e-3,
                        help="Adam learning rate of the first iteration (default: %(default)s)")
    parser.add_argument("--lr-final", type=float, default=0.1,
                        help="last iteration's learning rate as a fraction of --lr "
                             "(default: %(default)s)")
    parser.add_argument("--perturbed-rollouts", type=non_negative_int, default=4,
                        help="rollouts with action noise added per iteration (default: %(default)s)")
    parser.add_argument("--rollout-noise", type=float, default=0.2,
                        help="their action noise std, fraction of the action half-range "
                             "(default: %(default)s)")
    parser.add_argument("--learn-scales", action="store_true",
                        help="learn the hidden activation steps with the weights (LSQ-style)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed (default: %(default)s)")
    parser.add_argument("--val-episodes", type=positive_int, default=20,
                        help="validation episodes that choose the export (seeds 10000..; more "
                             "episodes choose less by luck) (default: %(default)s)")
    parser.add_argument("--test-episodes", type=positive_int, default=100,
                        help="test episodes (seeds 100000..) of the chosen export, paired with "
                             "the float actor (default: %(default)s)")
    rl = parser.add_argument_group("RL fine-tuning (mode b)")
    rl.add_argument("--rl-steps", type=non_negative_int, default=0,
                    help="after distillation, fine-tune the quantized actor with TD3 for this "
                         "many env steps (default: 0, off)")
    rl.add_argument("--rl-warmup", type=non_negative_int, default=5000,
                    help="first RL steps in which only the new critic learns "
                         "(default: %(default)s)")
    rl.add_argument("--rl-lr", type=float, default=3e-4,
                    help="TD3 critic learning rate (default: %(default)s)")
    rl.add_argument("--rl-actor-lr", type=float, default=1e-5,
                    help="TD3 actor learning rate (default: %(default)s)")
    rl.add_argument("--rl-eval-every", type=positive_int, default=2000,
                    help="env steps between validations (default: %(default)s)")
    add_ptq_options(parser)


def run(args: argparse.Namespace) -> int:
    from qhil.common.model_dir import load_model_dir
    from qhil.quant.config import parse_bits
    from qhil.quant.pipeline import Calibrator
    from qhil.train.qat import QATArgs, choose_input_bits, qat, save_qat
    from qhil.train.qat_rl import RLArgs

    model = load_model_dir(args.model)
    auto_input = "in=auto" in args.bits.split()
    bits = parse_bits(" ".join(t for t in args.bits.split() if t != "in=auto"),
                      len(model.actor.weights))
    out = Path(args.out)
    calibrator = Calibrator(model, ptq_options(args))
    input_choice = None
    if auto_input:
        print("choosing the input width on validation ...", flush=True)
        bits, input_choice = choose_input_bits(model, calibrator, bits, args.val_episodes)
        tried = ", ".join(f"{w}: {r:.1f}" for w, r in input_choice.items())
        print(f"input width {bits.in_bits} bits (validation returns: {tried})", flush=True)
    rl = RLArgs(critic_warmup=args.rl_warmup, learning_rate=args.rl_lr,
                actor_learning_rate=args.rl_actor_lr, eval_every=args.rl_eval_every)
    qargs = QATArgs(bits=bits, iterations=args.iterations, grad_steps=args.grad_steps,
                    lr=args.lr, lr_final=args.lr_final,
                    perturbed_rollouts=args.perturbed_rollouts, rollout_noise=args.rollout_noise,
                    learn_scales=args.learn_scales, seed=args.seed, val_episodes=args.val_episodes,
                    test_episodes=args.test_episodes, rl_steps=args.rl_steps, rl=rl)
    total = args.iterations + args.rl_steps // args.rl_eval_every
    with tqdm(total=total, desc=f"qat {bits.short}", unit="iter") as bar:
        def progress(it: int, loss: float, val: float, best: float) -> None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}" if loss == loss else "rl", val=f"{val:.0f}",
                            best=f"{best:.0f}")

        result = qat(model, qargs, calibrator, progress)
    save_qat(result, model, qargs, out, input_choice)
    print(f"wrote {out}: {bits}, test return {result.test.mean:.1f} +- {result.test.std:.1f} "
          f"on seeds {result.test.seeds}: {result.comparison}; PTQ validation "
          f"{result.ptq_val_return:.1f} -> QAT {result.best_val_return:.1f}, "
          f"agreement {100 * result.agreement:.2f}%, {result.wall_time_s:.0f} s")
    return 0
