"""``qhil bench``: closed-loop hardware-in-the-loop benchmark of float and integer policies."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from tqdm import tqdm

from qhil.cli.base import non_negative_int, positive_int
from qhil.cli.options import add_ptq_options, ptq_options
from qhil.cli.targets_opts import add_target_options, connect
from qhil.common.errors import ConfigError, QhilError

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

Writes <out>/report.json (schema qhil-report/1), <out>/summary.md and <out>/report.html.
Each finished episode is saved at once (<out>/episodes/) and report.json is kept up to
date, marked partial; after Ctrl-C, a kill or a device that cannot be brought back,
'qhil bench --resume <out>' runs only what is missing. A device that resets or goes
silent mid-episode is restarted or reloaded and the step retried; the report lists
each such incident and the link's retries.

example: qhil bench --model models/Pendulum-v1 --target qemu-m4 \\
             --variants float,device-f32,int8 --blob models/Pendulum-v1/w3a3.qhil
"""

LOG = logging.getLogger(__name__)


# Arguments saved in run.json and restored by --resume (the run's definition).
_PLAN_ARGS = ("model", "variants", "blob", "episodes", "seed", "noise", "target", "port",
              "timeout", "link_faults", "board_profile", "calib_episodes", "input_range",
              "act_range", "weights", "input_scale", "budget", "allow_mismatch")


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="model folder (required unless --resume)")
    parser.add_argument("--variants", default="float,device-f32,int8",
                        help="comma-separated variants (default: %(default)s)")
    parser.add_argument("--blob", action="append", default=[], help="a .qhil blob (repeatable)")
    parser.add_argument("--episodes", type=positive_int, default=20,
                        help="episodes per variant (default: %(default)s)")
    parser.add_argument("--seed", type=non_negative_int, default=100_000,
                        help="base seed; episode i uses SEED+i (default: %(default)s, the "
                             "test split of docs/evaluation.md)")
    parser.add_argument("--noise", default="0",
                        help="observation noise levels, std relative to each feature's scale, "
                             "e.g. 0,0.05,0.1 (default: 0)")
    parser.add_argument("-o", "--out", default=None,
                        help="run folder (default: reports/<env>-<target>); refuses one that "
                             "holds another run")
    parser.add_argument("--resume", metavar="DIR", default=None,
                        help="finish the run saved in DIR (after a kill, Ctrl-C or an error): "
                             "its own settings are used, finished episodes are kept")
    parser.add_argument("--link-faults", default="",
                        help="damage the link on purpose, per byte, e.g. flip=1e-3,drop=1e-3"
                             ",dup=0,delay=0,delay_ms=5,seed=0 (testing the bench itself)")
    parser.add_argument("--board-profile", default=None, metavar="JSON",
                        help="the board's power figures for device energy (fields: name, mcu, "
                             "clock_hz, vdd_v, run_ua_per_mhz, source, verified); default: the "
                             "built-in profile of the target, if it has one")
    parser.add_argument("--budget", default=None, metavar="METRIC=N,...",
                        help="ceilings the report picks the best variant under, e.g. "
                             "weight_bytes=2000,cost=30000 (metrics of qhil compare that are "
                             "better lower; default: none, the best device variant)")
    add_target_options(parser)
    add_ptq_options(parser)


def _noise_levels(text: str) -> list[float]:
    try:
        levels = sorted({float(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise ConfigError(f"--noise '{text}' is not a list of numbers") from None
    if any(v < 0 or v != v for v in levels):
        raise ConfigError("noise levels must be numbers >= 0")
    return levels if 0.0 in levels else [0.0, *levels]


def run(args: argparse.Namespace) -> int:
    from qhil.bench.campaign import Bench, preflight
    from qhil.bench.decide import parse_budget
    from qhil.bench.energy import load_profile, profile_for
    from qhil.bench.report import markdown_summary
    from qhil.bench.runner import EpisodeResult
    from qhil.bench.session import DeviceSession
    from qhil.bench.store import RunStore
    from qhil.bench.variants import Variant, resolve_variants
    from qhil.common.envs import make_env
    from qhil.common.model_dir import load_model_dir
    from qhil.link.faults import parse_link_faults
    from qhil.quant.blob import blob_id
    from qhil.quant.pipeline import Calibrator
    from qhil.targets.firmware import elf_memory

    store: RunStore | None = None
    if args.resume:
        store = RunStore.open(Path(args.resume))
        port = args.port
        for key, value in store.plan["args"].items():
            setattr(args, key, value)
        args.port = port or args.port  # a board may come back on another port
    elif not args.model:
        raise ConfigError("give --model (or --resume DIR to finish a saved run)")

    # Everything that can be wrong with the input fails here, before any episode runs.
    LOG.info("loading %s and preparing variants (calibration: %d episodes) ...", args.model,
             args.calib_episodes)
    model = load_model_dir(args.model)
    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    noise = _noise_levels(args.noise)
    faults = parse_link_faults(args.link_faults)
    parse_budget(args.budget)  # a typo fails here, not after the run
    profile = load_profile(Path(args.board_profile)) if args.board_profile else \
        profile_for(args.target)
    variants = resolve_variants(model, names, [Path(b) for b in args.blob],
                                Calibrator(model, ptq_options(args)))
    if not variants:
        raise ConfigError("nothing to run: give --variants and/or --blob")
    ids = {v.name: f"0x{blob_id(v.blob):08x}" if v.blob else None for v in variants}
    if store is not None and store.plan["model_ids"] != ids:
        raise ConfigError(f"{args.resume}: the models changed since the run started "
                          f"(was {store.plan['model_ids']}, now {ids}); start a new run")
    env = make_env(model.env_id)
    period = float(getattr(env.unwrapped, "dt", 0.0) or 0.0)
    env.close()
    seeds = [args.seed + i for i in range(args.episodes)]
    out = Path(args.resume or args.out or f"reports/{model.env_id}-{args.target}")
    if store is None:
        RunStore.check_free(out)

    needs_device = any(v.on_device for v in variants)
    target = connect(args, faults=faults) if needs_device else None
    bench: Bench | None = None
    try:
        target_meta: dict[str, object] = {"name": args.target}
        session = DeviceSession(target) if target is not None else None
        if target is not None and session is not None:
            info = target.device.info
            assert info is not None
            target_meta.update(kind=target.info.kind, machine=target.info.machine,
                               url=args.port, expected_board=target.info.board,
                               board=info.board, cpu=info.cpu, firmware=info.firmware,
                               kernel=info.kernel, cost_unit=info.cost_kind,
                               clock_hz=info.clock_hz, arena_bytes=info.arena_bytes)
            if target.firmware is not None and target.info.kind != "native":
                target_meta["memory"] = elf_memory(target.firmware)
            LOG.info("preflight: loading each variant on %s and checking it ...", args.target)
            preflight([v for v in variants if v.on_device], session, args.target)
        if store is None:  # every check passed: only now is the run saved
            plan_args = {k: getattr(args, k) for k in _PLAN_ARGS}
            plan_args["model"] = str(Path(args.model).resolve())
            plan_args["blob"] = [str(Path(b).resolve()) for b in args.blob]
            if args.board_profile:
                plan_args["board_profile"] = str(Path(args.board_profile).resolve())
            store = RunStore.create(out, {"args": plan_args, "model_ids": ids})
        bench = Bench(model, variants, seeds, noise, store, session, target_meta, period,
                      faults=faults.describe() if faults.any else "", profile=profile,
                      budget=args.budget)
        done = bench.total - sum(len(bench.pending(v)) for v in variants)
        with tqdm(total=bench.total, initial=done, desc="bench", unit="ep") as bar:
            def advance(variant: Variant, _: EpisodeResult) -> None:
                bar.set_postfix(variant=variant.name)
                bar.update(1)

            bench.run(on_episode=advance)
        report = bench.write(final=True)
    except KeyboardInterrupt:
        _stopped(bench, out, "interrupted")
        return 130
    except QhilError:
        _stopped(bench, out, "stopped")
        raise
    finally:
        if target is not None:
            target.stop()
    print(markdown_summary(report))
    print(f"report: {out / 'report.json'} (and {out / 'summary.md'}, {out / 'report.html'})")
    bad = sum(v.get("bit_exact", {}).get("mismatches", 0) for v in report["variants"])
    if bad:
        print(f"qhil: {bad} device answers differed from the golden executor (see report)")
        return 1
    return 0


def _stopped(bench: object, out: Path, how: str) -> None:
    from qhil.bench.campaign import Bench

    if isinstance(bench, Bench):
        report = bench.write(final=True)
        p = report["progress"]
        print(f"qhil: {how} after {p['episodes_done']} of {p['episodes_total']} episodes; "
              f"they are saved in {out} (partial report.json). Finish with: "
              f"qhil bench --resume {out}", file=sys.stderr)
