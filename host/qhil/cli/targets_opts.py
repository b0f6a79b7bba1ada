"""The target/port options shared by device commands (from :class:`TargetSettings`)."""

from __future__ import annotations

import argparse

from qhil.cli.settings_options import add_settings, settings_from
from qhil.targets import TargetSettings

__all__ = ["add_target_options", "target_settings"]


def add_target_options(parser: argparse.ArgumentParser, default: str = "qemu-m4") -> None:
    add_settings(parser, TargetSettings, group="target", defaults={"target": default})


def target_settings(args: argparse.Namespace) -> TargetSettings:
    return settings_from(TargetSettings, args)

