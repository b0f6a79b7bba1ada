"""Package versions and git revision, recorded in every model and report."""

from __future__ import annotations

import functools
import platform
import subprocess
from importlib import metadata
from pathlib import Path

__all__ = ["package_versions", "git_sha", "cpu_model", "REPO_ROOT"]

#: The repository root (``host/qhil/common`` is three levels below it).
REPO_ROOT = Path(__file__).resolve().parents[3]

_PACKAGES = ("qhil", "numpy", "torch", "gymnasium", "stable_baselines3", "mujoco", "pyserial")


@functools.cache
def _package_versions() -> tuple[tuple[str, str], ...]:
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return tuple(versions.items())


def package_versions() -> dict[str, str]:
    # cached: a bench rewrites its report after every episode
    return dict(_package_versions())


@functools.cache
def cpu_model() -> str:
    """The CPU's model name: training runs repeat bit for bit only on the same kind of CPU
    (the float kernels torch picks depend on it)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def git_sha(root: Path = REPO_ROOT) -> str:
    """The current commit (with ``-dirty`` when the tree has changes), or ``unknown``."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, check=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return sha + ("-dirty" if dirty else "")
