"""What every subcommand module provides, and the option types they share."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Protocol

from qhil.common.settings import int_in_range, int_list, non_negative_int, positive_int

__all__ = ["Subcommand", "positive_int", "non_negative_int", "int_list", "existing_dir",
           "int_in_range"]


class Subcommand(Protocol):
    """A CLI subcommand: ``NAMES[0]`` is its name, ``HELP`` its one-line summary."""

    NAMES: tuple[str, ...]
    HELP: str
    DESCRIPTION: str

    def add_args(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def existing_dir(text: str) -> Path:
    return Path(text)
