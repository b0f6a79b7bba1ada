"""The closed-loop hardware-in-the-loop bench: variants, runner, reports."""

from qhil.bench.report import SCHEMA, build_report, load_report, markdown_summary, write_report
from qhil.bench.runner import EpisodeResult, VariantResult, run_variant
from qhil.bench.variants import Variant, resolve_variants

__all__ = ["SCHEMA", "build_report", "load_report", "markdown_summary", "write_report",
           "EpisodeResult", "VariantResult", "run_variant", "Variant", "resolve_variants"]
