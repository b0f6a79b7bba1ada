"""What every subcommand module provides, and the option types they share."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

__all__ = ["Subcommand", "positive_int", "non_negative_int", "int_list", "existing_dir",
           "int_in_range"]


class Subcommand(Protocol):
    """A CLI subcommand: ``NAMES[0]`` is its name, ``HELP`` its one-line summary."""

    NAMES: tuple[str, ...]
    HELP: str
    DESCRIPTION: str

    def add_args(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def positive_int(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def int_in_range(low: int, high: int) -> Callable[[str], int]:
    """An option type for integers in ``[low, high]``: out of range is a usage error."""
    def parse(text: str) -> int:
        try:
            value = int(text.replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be in {low}..{high}, got {value}")
        return value
    return parse


def int_list(text: str) -> tuple[int, ...]:
    """``64,64`` -> ``(64, 64)``; every entry positive."""
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of integers") from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"'{text}' must list positive integers")
    return values


def existing_dir(text: str) -> Path:
    return Path(text)
