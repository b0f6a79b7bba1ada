"""Command-line options generated from settings dataclasses (:mod:`qhil.common.settings`).

``add_settings(parser, Cls)`` adds one option per field: ``--field-name`` (or the field's
``flag``), its type read from the annotation (int, float, str, bool as a switch, a
``Literal`` as choices, ``X | None``, tuples through the field's ``parse``), its default
and help from the field. ``settings_from(Cls, args)`` builds the dataclass back.
A nested settings dataclass becomes an option group of its own.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import types
import typing
from collections.abc import Callable
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from qhil.common.errors import QhilError

__all__ = ["add_settings", "settings_from", "given_fields"]

T = TypeVar("T")


def _dest(prefix: str, name: str) -> str:
    return f"{prefix}{name}"


def _plain(tp: Any) -> Any:
    """``X | None`` -> ``X``."""
    if get_origin(tp) in (Union, types.UnionType):
        rest = [a for a in get_args(tp) if a is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return tp


def _nested(tp: Any, meta: Any) -> bool:
    """A field that is a settings dataclass of its own (not a value read by ``parse``)."""
    return dataclasses.is_dataclass(tp) and not meta.get("parse") and meta.get("cli", True)


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(_show(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _usage_errors(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """A parser whose :class:`QhilError` becomes argparse's usage error (exit 2, one line)."""
    @functools.wraps(parse)
    def wrapped(text: str) -> Any:
        try:
            return parse(text)
        except QhilError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return wrapped


def add_settings(parser: argparse.ArgumentParser | Any, cls: type[Any], *, prefix: str = "",
                 skip: tuple[str, ...] = (), group: str | None = None,
                 defaults: dict[str, Any] | None = None) -> None:
    """Add an option for every field of ``cls`` (nested settings become groups).

    :param prefix: prepended to the destinations (nested dataclasses)
    :param skip: fields the command sets its own way
    :param group: title of an argument group to put them in
    :param defaults: overrides of the dataclass defaults for this command
    """
    target = parser.add_argument_group(group) if group else parser
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        meta = f.metadata
        if f.name in skip or not meta.get("cli", bool(meta)):
            continue
        tp = _plain(hints[f.name])
        if _nested(tp, meta):
            add_settings(parser, tp, prefix=_dest(prefix, f.name + "__"), group=meta["help"])
            continue
        default = (defaults or {}).get(f.name, f.default if f.default is not dataclasses.MISSING
                                       else f.default_factory()
                                       if f.default_factory is not dataclasses.MISSING else None)
        names = [meta.get("flag") or "--" + f.name.replace("_", "-")]
        if meta.get("short"):
            names.insert(0, meta["short"])
        help_text = meta["help"]
        kwargs: dict[str, Any] = {"dest": _dest(prefix, f.name), "default": default}
        if tp is bool:
            kwargs["action"] = "store_true"
        elif meta.get("repeat"):
            kwargs.update(action="append", default=None,
                          type=_usage_errors(meta.get("parse") or str))
            help_text += " (repeatable)"
        else:
            if get_origin(tp) is Literal:
                kwargs["choices"] = list(get_args(tp))
            kwargs["type"] = _usage_errors(meta.get("parse") or
                                           (tp if tp in (int, float, str) else str))
            if "choices" not in kwargs:
                kwargs["metavar"] = meta.get("metavar") or f.name.upper()
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                kwargs["required"] = True
            elif meta.get("show_default", True) and default not in (None, "", ()):
                help_text += f" (default: {_show(default).replace('%', '%%')})"
        target.add_argument(*names, help=help_text, **kwargs)


def settings_from(cls: type[T], args: argparse.Namespace, prefix: str = "",
                  **given: Any) -> T:
    """The ``cls`` the options of :func:`add_settings` describe; ``given`` fields win."""
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in given or not f.init:
            continue
        dest = _dest(prefix, f.name)
        tp = _plain(hints[f.name])
        if _nested(tp, f.metadata):
            values[f.name] = settings_from(tp, args, _dest(prefix, f.name + "__"))
        elif getattr(args, dest, None) is not None or (hasattr(args, dest)
                                                       and not f.metadata.get("repeat")):
            value = getattr(args, dest)
            values[f.name] = tuple(value) if f.metadata.get("repeat") else value
    return cls(**values, **given)


def given_fields(parser: argparse.ArgumentParser, argv: list[str]) -> frozenset[str]:
    """The settings fields the command line set explicitly (``device.target`` for a nested
    one), whatever their values: a resumed run refuses those that differ from its own.
    Long options may be abbreviated as argparse allows."""
    actions = {opt: a for a in parser._actions for opt in a.option_strings}
    out: set[str] = set()
    for token in argv:
        if token == "--":
            break
        if not token.startswith("-") or token == "-":
            continue
        name = token.split("=", 1)[0]
        action = actions.get(name)
        if action is None and name.startswith("--"):
            matches = [a for opt, a in actions.items() if opt.startswith(name)]
            action = matches[0] if len({id(a) for a in matches}) == 1 else None
        if action is not None:
            out.add(action.dest.replace("__", "."))
    return frozenset(out)
