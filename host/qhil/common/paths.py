"""Where a command writes: checked before it works, so that a bad ``-o`` fails at once in
one line instead of as a traceback after the work is done.

A path is writable when it can be created: its nearest existing ancestor is a folder in
which a file can be made (tried for real, with a temporary file removed at once: as root
every permission check passes, a read-only or pseudo file system still refuses).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from qhil.common.errors import ConfigError

__all__ = ["check_writable_file", "check_writable_dir", "writable_file", "writable_dir",
           "writable_dir_text"]


def _nearest_existing(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _probe_dir(folder: Path, what: Path) -> None:
    anchor = _nearest_existing(folder)
    if not anchor.is_dir():
        raise ConfigError(f"cannot write {what}: {anchor} is a file, not a folder")
    try:
        fd, name = tempfile.mkstemp(prefix=".qhil-probe-", dir=anchor)
    except OSError as exc:
        raise ConfigError(f"cannot write {what}: {anchor} is not writable "
                          f"({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(name)


def check_writable_file(path: Path) -> None:
    """Refuse a file path that cannot be written (a folder, a read-only place).

    :raises ConfigError: one line naming the path and why
    """
    if path.is_dir():
        raise ConfigError(f"cannot write {path}: it is a folder, give a file name")
    if path.exists() and not os.access(path, os.W_OK):
        raise ConfigError(f"cannot write {path}: the file is read-only")
    _probe_dir(path.parent, path)


def check_writable_dir(path: Path) -> None:
    """Refuse a folder path that is a file or cannot be created or written into.

    :raises ConfigError: one line naming the path and why
    """
    if path.exists() and not path.is_dir():
        raise ConfigError(f"cannot write into {path}: it is a file, not a folder")
    _probe_dir(path, path)


def writable_file(text: str) -> Path:
    """argparse type: a file path checked for writing at parse time."""
    try:
        check_writable_file(Path(text))
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return Path(text)


def writable_dir(text: str) -> Path:
    """argparse type: a folder path checked for writing at parse time."""
    try:
        check_writable_dir(Path(text))
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return Path(text)


def writable_dir_text(text: str) -> str:
    """:func:`writable_dir` for settings fields that keep the path as text (JSON plans)."""
    return str(writable_dir(text))
