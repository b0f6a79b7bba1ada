"""Settings dataclasses are the CLI: each field's default and help are written once, here,
and the command-line options are generated from them (:mod:`qhil.cli.settings_options`).

A field made with :func:`setting` carries its help text and, where the type alone does
not say how to read it from the command line, a parser or a flag name. Library callers
(``qhil.api``, the pytest plugin) build the same dataclasses directly.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from typing import Any

__all__ = ["setting", "comma_list", "positive_int", "positive_float", "episode_count", "MAX_EPISODES",
           "non_negative_float", "non_negative_int", "int_in_range", "int_list", "width_list", "layer_widths",
           "json_object",
           "option_of"]


def setting(default: Any = dataclasses.MISSING, *, help: str,  # noqa: A002 - argparse's word
            flag: str | None = None, parse: Callable[[str], Any] | None = None,
            metavar: str | None = None, short: str | None = None, cli: bool = True,
            show_default: bool = True, repeat: bool = False,
            default_factory: Callable[[], Any] | Any = dataclasses.MISSING) -> Any:
    """A dataclass field with what its command-line option needs.

    :param flag: the option's name when it is not ``--field-name``
    :param parse: reads the option's text (an ``argparse`` type); its errors are usage errors
    :param short: a one-letter alias (``-o``)
    :param cli: False for fields the command line does not set
    :param show_default: append "(default: ...)" to the help
    :param repeat: the option may be given several times (a tuple field)
    """
    meta = {"help": help, "flag": flag, "parse": parse, "metavar": metavar, "short": short,
            "cli": cli, "show_default": show_default, "repeat": repeat}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def json_object(text: str) -> dict[str, Any]:
    """``{"g": 9.81}`` -> a dict; anything but a JSON object is a usage error."""
    import json

    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object, got {text!r}")
    return value


def comma_list(text: str) -> tuple[str, ...]:
    """``a, b,c`` -> ``("a", "b", "c")``; an empty entry (``a,,b``) is a typo, refused."""
    values = tuple(v.strip() for v in text.split(","))
    if not text.strip():
        return ()
    if any(not v for v in values):
        raise argparse.ArgumentTypeError(f"'{text}' has an empty entry")
    return values


def positive_float(text: str) -> float:
    """A number > 0 (timeouts, clocks): 0, negatives, NaN and inf are refused."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not (0 < value < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0 (latencies, loss weights): negatives, NaN and inf are refused."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def _int(text: str) -> int:
    try:
        return int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None


def positive_int(text: str) -> int:
    value = _int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


#: The most episodes one option may ask for: more is a typo (and a list of that many seeds
#: would exhaust memory before the first episode).
MAX_EPISODES = 100_000


def episode_count(text: str) -> int:
    """A number of episodes: positive and at most :data:`MAX_EPISODES`."""
    value = positive_int(text)
    if value > MAX_EPISODES:
        raise argparse.ArgumentTypeError(f"at most {MAX_EPISODES:,} episodes, got {value:,}")
    return value


def non_negative_int(text: str) -> int:
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def int_in_range(low: int, high: int) -> Callable[[str], int]:
    """An option type for integers in ``[low, high]``: out of range is a usage error."""
    def parse(text: str) -> int:
        value = _int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be in {low}..{high}, got {value}")
        return value
    return parse


def int_list(text: str) -> tuple[int, ...]:
    """``64,64`` -> ``(64, 64)``; every entry positive."""
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of "
                                         "integers") from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"'{text}' must list positive integers")
    return values


def layer_widths(text: str) -> tuple[int, ...]:
    """``128,128`` -> ``(128, 128)``: hidden layer widths in order, 1..7 layers of 1..1024."""
    values = tuple(positive_int(v) for v in comma_list(text))
    if not 1 <= len(values) <= 7 or max(values) > 1024:
        raise argparse.ArgumentTypeError(
            f"'{text}': 1 to 7 hidden layers of 1 to 1024 units (docs/model-format.md)")
    return values


def width_list(text: str) -> tuple[int, ...]:
    """``2,3,8`` -> ``(8, 3, 2)``: distinct bit widths, widest first."""
    return tuple(sorted(set(int_list(text)), reverse=True))


def option_of(cls: type[Any], dotted: str) -> str:
    """The command-line option of a settings field (``device.target`` -> ``--target``)."""
    head, _, rest = dotted.partition(".")
    for f in dataclasses.fields(cls):
        if f.name == head:
            if rest:
                return option_of(f.default_factory if f.default_factory is not  # type: ignore[arg-type]
                                 dataclasses.MISSING else type(f.default), rest)
            return str(f.metadata.get("flag") or "--" + f.name.replace("_", "-"))
    raise KeyError(dotted)
