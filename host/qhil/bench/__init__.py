"""The closed-loop hardware-in-the-loop bench: variants, episodes, runs, reports."""

from qhil.bench.campaign import Bench, preflight
from qhil.bench.report import SCHEMA, build_report, load_report, markdown_summary, write_report
from qhil.bench.runner import EpisodeResult, VariantResult, run_episode
from qhil.bench.session import DeviceSession
from qhil.bench.store import RunStore
from qhil.bench.variants import Variant, resolve_variants

__all__ = ["Bench", "preflight", "SCHEMA", "build_report", "load_report", "markdown_summary",
           "write_report", "EpisodeResult", "VariantResult", "run_episode", "DeviceSession",
           "RunStore", "Variant", "resolve_variants"]
