"""``qhil bench``: closed-loop hardware-in-the-loop benchmark of float and integer policies."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from tqdm import tqdm

from qhil.cli.base import non_negative_int, positive_int
from qhil.cli.options import add_ptq_options, ptq_options
from qhil.cli.targets_opts import add_target_options, connect
from qhil.common.errors import ConfigError

NAMES = ("bench",)
HELP = "closed-loop benchmark: float vs integer policies on a device or emulator"
DESCRIPTION = """\
Run closed-loop episodes: the host steps the Gymnasium env, turns each observation into
the model's integer input codes, sends them to the target and applies the answer. Every
variant sees the same seeds. Every device answer of an integer variant is checked
against the golden executor; a mismatch is reported with its step and inputs and makes
the command exit 1.

Variants (--variants, comma-separated):
  float        the float policy on the host (the baseline for % of float)
  device-f32   the float policy on the device (float32 kernel)
  int8, wXaY[iZ]  post-training quantized now at that setting (see qhil quantize)
and any number of --blob X.qhil (e.g. QAT exports shipped in models/<env>/).

Writes <out>/report.json (schema qhil-report/1) and <out>/summary.md.

example: qhil bench --model models/Pendulum-v1 --target qemu-m4 \\
             --variants float,device-f32,int8 --blob models/Pendulum-v1/w3a3.qhil
"""

LOG = logging.getLogger(__name__)


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model folder")
    parser.add_argument("--variants", default="float,device-f32,int8",
                        help="comma-separated variants (default: %(default)s)")
    parser.add_argument("--blob", action="append", default=[], help="a .qhil blob (repeatable)")
    parser.add_argument("--episodes", type=positive_int, default=20,
                        help="episodes per variant (default: %(default)s)")
    parser.add_argument("--seed", type=non_negative_int, default=0,
                        help="base seed; episode i uses SEED+i (default: %(default)s)")
    parser.add_argument("--noise", default="0",
                        help="observation noise levels, std relative to each feature's scale, "
                             "e.g. 0,0.05,0.1 (default: 0)")
    parser.add_argument("-o", "--out", default=None,
                        help="report folder (default: reports/<env>-<target>)")
    add_target_options(parser)
    add_ptq_options(parser)


def _noise_levels(text: str) -> list[float]:
    try:
        levels = sorted({float(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise ConfigError(f"--noise '{text}' is not a list of numbers") from None
    if any(v < 0 for v in levels):
        raise ConfigError("noise levels must be >= 0")
    return levels if 0.0 in levels else [0.0, *levels]


def run(args: argparse.Namespace) -> int:
    from qhil.bench.report import build_report, markdown_summary, write_report
    from qhil.bench.runner import run_variant
    from qhil.bench.variants import resolve_variants
    from qhil.common.envs import make_env
    from qhil.common.model_dir import load_model_dir
    from qhil.quant.pipeline import Calibrator
    from qhil.targets.firmware import elf_memory

    model = load_model_dir(args.model)
    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    noise = _noise_levels(args.noise)
    # Everything that can be wrong with the input fails here, before any episode runs.
    variants = resolve_variants(model, names, [Path(b) for b in args.blob],
                                Calibrator(model, ptq_options(args)))
    if not variants:
        raise ConfigError("nothing to run: give --variants and/or --blob")
    env = make_env(model.env_id)
    period = float(getattr(env.unwrapped, "dt", 0.0) or 0.0)
    env.close()
    seeds = [args.seed + i for i in range(args.episodes)]
    out = Path(args.out or f"reports/{model.env_id}-{args.target}")

    target = connect(args) if any(v.on_device for v in variants) else None
    results = []
    try:
        target_info: dict[str, object] = {"name": args.target}
        if target is not None:
            info = target.device.info
            assert info is not None
            target_info.update(kind=target.info.kind, machine=target.info.machine,
                               board=info.board, cpu=info.cpu, firmware=info.firmware,
                               kernel=info.kernel, cost_unit=info.cost_kind,
                               clock_hz=info.clock_hz, arena_bytes=info.arena_bytes)
            if target.firmware is not None and target.info.kind != "native":
                target_info["memory"] = elf_memory(target.firmware)
        total = len(variants) * len(seeds) * len(noise)
        with tqdm(total=total, desc="bench", unit="ep") as bar:
            for variant in variants:
                bar.set_postfix(variant=variant.name)
                merged = None
                for level in noise:
                    res = run_variant(variant, model.actor, model.env_id, seeds,
                                      target.device if target else None, noise=level,
                                      on_episode=lambda _: bar.update(1))
                    if merged is None:
                        merged = res
                    else:
                        merged.episodes += res.episodes
                        merged.mismatch_count += res.mismatch_count
                        merged.mismatches += res.mismatches
                assert merged is not None
                results.append(merged)
        link = vars(target.device.counters).copy() if target else {}
        link.pop("extra", None)
    finally:
        if target is not None:
            target.stop()
    link = link or {"requests": 0, "retries": 0, "corrupt_frames": 0, "stale_frames": 0,
                    "timeouts": 0}
    report = build_report(results, env_id=model.env_id, model_path=str(model.path),
                          model_meta=model.meta, target=target_info, seeds=seeds,
                          period=period, macs=model.actor.n_macs, link=link)
    path = write_report(report, out)
    print(markdown_summary(report))
    print(f"report: {path} (and {out / 'summary.md'})")
    bad = sum(r.mismatch_count for r in results)
    if bad:
        print(f"qhil: {bad} device answers differed from the golden executor (see report)")
        return 1
    return 0
