"""``qhil qat``: quantization-aware training by distillation (DAgger) into a .qhil blob."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from tqdm import tqdm

from qhil.cli.options import add_ptq_options, ptq_options
from qhil.cli.settings_options import add_settings, settings_from
from qhil.common.paths import writable_file
from qhil.train.settings import QATArgs

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
(100000.., 100 episodes) paired with the float actor: % of float with a 95% interval,
early terminations of both (docs/evaluation.md). With in=auto in --bits, the input width
is chosen on validation first (the narrowest of 8/10/12/16 bits whose 8-bit PTQ policy
reaches 99% of the best of them).
With --rl-steps N (mode b), the distilled student is then fine-tuned by TD3 on the
env's reward for N steps, the fake-quant actor in the loop (a new critic learns alone
for --rl-warmup steps first); exports are kept only if validation improves.
Writes X.qhil and X.json (provenance, validation curve, test return, agreement).

With --hidden W,W the student has hidden widths of its own (--bits then counts its
layers): wider than the teacher at the same depth, it starts as the teacher widened
without changing its function (Net2Net); any other shape starts from fresh weights,
calibrated on itself. The export and its .json record the widths and the start.

example: qhil qat --model models/Pendulum-v1 --bits "w=3 a=3,3,8 in=auto" -o models/Pendulum-v1/qat_w3.qhil
         qhil qat --model models/Pendulum-v1 --bits w3a3 --hidden 128,128 -o wide_w3.qhil
"""

LOG = logging.getLogger(__name__)


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model folder (the float teacher)")
    parser.add_argument("--bits", required=True,
                        help="widths, e.g. w3a3 or 'w=8,3,8 a=8,3,8'; in=auto lets the recipe "
                             "choose the input width on validation")
    parser.add_argument("-o", "--out", required=True, type=writable_file,
                        help="output .qhil (a .json goes beside it)")
    add_settings(parser, QATArgs, skip=("bits",))
    add_ptq_options(parser)


def run(args: argparse.Namespace) -> int:
    from qhil.common.model_dir import load_model_dir
    from qhil.quant.config import parse_bits
    from qhil.quant.pipeline import Calibrator
    from qhil.train.qat import choose_input_bits, qat, save_qat

    model = load_model_dir(args.model)
    auto_input = "in=auto" in args.bits.split()
    depth = len(args.hidden) + 1 if args.hidden else len(model.actor.weights)
    bits = parse_bits(" ".join(t for t in args.bits.split() if t != "in=auto"), depth)
    out = Path(args.out)
    calibrator = Calibrator(model, ptq_options(args))
    input_choice = None
    if auto_input:
        print("choosing the input width on validation ...", flush=True)
        bits, input_choice = choose_input_bits(model, calibrator, bits, args.val_episodes)
        tried = ", ".join(f"{w}: {r:.1f}" for w, r in input_choice.items())
        print(f"input width {bits.in_bits} bits (validation returns: {tried})", flush=True)
    qargs = settings_from(QATArgs, args, bits=bits)
    total = qargs.iterations + qargs.rl_steps // qargs.rl.eval_every
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
