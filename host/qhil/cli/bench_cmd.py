"""``qhil bench``: closed-loop hardware-in-the-loop benchmark of float and integer policies."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tqdm import tqdm

from qhil.cli.matrix_cmd import add_ray_options, ray_options
from qhil.cli.settings_options import add_settings, settings_from
from qhil.common.errors import ConfigError
from qhil.common.settings import positive_int
from qhil.harness.settings import BenchSettings

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
each such incident and the link's retries. The same run from Python: qhil.api.bench
(docs/api.md). With --ray the episodes run as jobs on a Ray cluster (see qhil matrix).

example: qhil bench --model models/Pendulum-v1 --target qemu-m4 \\
             --variants float,device-f32,int8 --blob models/Pendulum-v1/w3a3.qhil
"""


def add_args(parser: argparse.ArgumentParser) -> None:
    add_settings(parser, BenchSettings)
    parser.add_argument("--resume", metavar="DIR", default=None,
                        help="finish the run saved in DIR (after a kill, Ctrl-C or an error): "
                             "its own settings are used, finished episodes are kept")
    add_ray_options(parser)
    g = parser.add_argument_group("clock sweep (--clock-sweep)")
    g.add_argument("--sweep-workers", type=positive_int, default=2,
                   help="processes the search runs in (default: %(default)s)")
    g.add_argument("--sweep-cache", default=None, metavar="DIR",
                   help="keep search cells here to share them between sweeps of one model "
                        "on several cores (default: the sweep folder)")
    g.add_argument("--sweep-no-device", action="store_true",
                   help="decide on the validation search only and skip the device runs on "
                        "the test seeds (the summary says the decision is unconfirmed); run "
                        "again without it to add them, the search is kept")


def run(args: argparse.Namespace) -> int:
    from qhil.bench.policies import PolicyUnderTest
    from qhil.bench.results import EpisodeResult
    from qhil.harness.run import BenchProgress, BenchStopped, run_bench
    from qhil.report.markdown import markdown_summary

    settings = settings_from(BenchSettings, args)
    if settings.clock_sweep:
        return _clock_sweep(settings, args)
    if args.resume:
        from qhil.cli.settings_options import given_fields
        from qhil.harness.run import check_resume_settings

        check_resume_settings(settings, given_fields(args._parser, args._argv) - {"resume"},
                              args.resume)
    bar: tqdm | None = None

    def start(done: int, total: int) -> None:
        nonlocal bar
        bar = tqdm(total=total, initial=done, desc="bench", unit="ep")

    def advance(policy: PolicyUnderTest, _: EpisodeResult) -> None:
        assert bar is not None
        bar.set_postfix(variant=policy.name)
        bar.update(1)

    try:
        ray = ray_options(args)
        progress = BenchProgress(start=start, episode=advance)
        if ray is not None:
            from pathlib import Path

            from qhil.harness.distribute import run_on_ray

            report = run_on_ray([settings], ray, [Path(args.resume) if args.resume else None],
                                progress)[0]
        else:
            report = run_bench(settings, resume=args.resume, progress=progress)
    except KeyboardInterrupt:
        _stopped(args, settings, "interrupted")
        return 130
    except BenchStopped as exc:
        _stopped(args, settings, "stopped", exc.report.data["progress"])
        raise
    finally:
        if bar is not None:
            bar.close()
    if bar is None and args.resume:
        print(f"qhil: {args.resume}: every episode is done, nothing left to do (its report "
              "below)", file=sys.stderr)
    print(markdown_summary(report.data))
    print(f"report: {report.path} (and {report.out / 'summary.md'}, "
          f"{report.out / 'report.html'})")
    if report.mismatches:
        print(f"qhil: {report.mismatches} device answers differed from the golden executor "
              "(see report)")
        return 1
    return 0


def _stopped(args: argparse.Namespace, settings: BenchSettings, how: str,
             progress: dict[str, int] | None = None) -> None:
    import json
    from pathlib import Path

    from qhil.common.model_dir import load_model_dir

    out = Path(args.resume) if args.resume else None
    if out is None and settings.model:
        out = settings.out_dir(load_model_dir(settings.model).env_id)
    if out is None or not (out / "report.json").exists():
        return
    if progress is None:
        progress = json.loads((out / "report.json").read_text()).get("progress", {})
    print(f"qhil: {how} after {progress.get('episodes_done')} of "
          f"{progress.get('episodes_total')} episodes; they are saved in {out} (partial "
          f"report.json). Finish with: qhil bench --resume {out}", file=sys.stderr)


def _clock_sweep(settings: BenchSettings, args: argparse.Namespace) -> int:
    from qhil.harness.clock_sweep import run_clock_sweep
    from qhil.harness.run import BenchProgress
    from qhil.report.sweep import decision_sentence

    if args.resume or args.ray is not None:
        raise ConfigError("--clock-sweep resumes by running it again with the same -o, and runs "
                          "here (not with --resume or --ray)")
    from pathlib import Path

    doc = run_clock_sweep(settings, settings.clock_sweep,
                          search_episodes=settings.sweep_episodes,
                          test_episodes=settings.episodes, workers=args.sweep_workers,
                          cache=Path(args.sweep_cache) if args.sweep_cache else None,
                          progress=BenchProgress(),  # its phases are logged
                          run_device=not args.sweep_no_device)
    out = settings.out_dir(doc["env_id"])
    print(decision_sentence(doc))
    print(f"sweep: {out / 'sweep.json'} (and {out / 'summary.md'}, {out / 'clock_sweep.png'})")
    return 1 if sweep_mismatches(doc) else 0


def sweep_mismatches(doc: dict[str, Any]) -> int:
    """Device answers that differed from the golden executor in a sweep's device runs (a
    float32 variant's runs have no bit-exact count: within tolerance is its check)."""
    return sum(int((r.get("bit_exact") or {}).get("mismatches") or 0)
               for r in (doc.get("device") or {}).get("runs", []))
