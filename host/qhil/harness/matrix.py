"""A benchmark matrix: models x variants/blobs x targets x noise x episodes, as one bench run
per (model, target) under one folder, run here one after another or as jobs on Ray, and a
summary across them (``qhil matrix``)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import yaml

from qhil.common.errors import ConfigError
from qhil.harness.run import BenchProgress, BenchReport, run_bench
from qhil.harness.settings import MatrixSettings, noise_levels
from qhil.quant.pipeline import PTQOptions
from qhil.report.matrix import matrix_markdown, matrix_plot, matrix_rows

__all__ = ["MatrixSettings", "run_matrix", "load_matrix"]


def load_matrix(path: Path, **overrides: Any) -> MatrixSettings:
    """A matrix file (YAML with :class:`MatrixSettings` fields); ``overrides`` win."""
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read matrix '{path}': {exc}") from None
    fields = {f.name for f in dataclasses.fields(MatrixSettings)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ConfigError(f"matrix '{path}': unknown field(s) {', '.join(unknown)} "
                          f"(fields: {', '.join(sorted(fields))})")
    for key in ("models", "variants", "blobs", "targets"):
        if key in data:
            data[key] = tuple(str(v) for v in (data[key] if isinstance(data[key], list)
                                               else [data[key]]))
    if "noise" in data:
        data["noise"] = noise_levels(",".join(str(v) for v in (
            data["noise"] if isinstance(data["noise"], list) else [data["noise"]])))
    if "ptq" in data:
        data["ptq"] = PTQOptions(**data["ptq"])
    try:
        return dataclasses.replace(MatrixSettings(**data), **overrides)
    except TypeError as exc:
        raise ConfigError(f"matrix '{path}': {exc}") from None


def run_matrix(matrix: MatrixSettings, ray: Any | None = None,
               progress: BenchProgress | None = None) -> tuple[list[BenchReport], Path]:
    """Run (or go on with) every run of the matrix, then write its summary.

    :param ray: :class:`~qhil.harness.distribute.RayOptions` to run the jobs on Ray
    :returns: the runs' reports and the summary's Markdown file
    """
    runs = matrix.runs()
    resume = [Path(r.out) if r.out and (Path(r.out) / "run.json").exists() else None
              for r in runs]
    if ray is not None:
        from qhil.harness.distribute import run_on_ray

        reports = run_on_ray(runs, ray, resume, progress)
    else:
        reports = [run_bench(r, resume=res, progress=progress)
                   for r, res in zip(runs, resume, strict=True)]
    out = Path(matrix.out)
    rows = matrix_rows([r.data for r in reports])
    title = f"qhil matrix: {len(runs)} runs, {matrix.episodes} episodes per variant"
    (out / "matrix.json").write_text(json.dumps({"settings": dataclasses.asdict(matrix),
                                                 "rows": rows}, indent=2) + "\n")
    summary = out / "matrix.md"
    summary.write_text(matrix_markdown(rows, title))
    matrix_plot(rows, title, out / "matrix.png")
    return reports, summary
