from __future__ import annotations

import pytest

from qhil.common.errors import ConfigError
from qhil.quant.config import BitConfig, parse_bits


@pytest.mark.parametrize(("text", "expected"), [
    ("int8", BitConfig((8, 8, 8), (8, 8, 8), 8, 16)),
    ("w3a3", BitConfig((3, 3, 3), (3, 3, 3), 8, 16)),
    ("w2a4i12", BitConfig((2, 2, 2), (4, 4, 4), 12, 16)),
    ("w=8,3,8 a=8,3,8 in=10", BitConfig((8, 3, 8), (8, 3, 8), 10, 16)),
    ("w=4 in=16 out=8", BitConfig((4, 4, 4), (8, 8, 8), 16, 8)),
])
def test_parse(text, expected) -> None:
    assert parse_bits(text, 3) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("w=9", "outside 2..8"),
    ("w=1", "outside 2..8"),
    ("in=17", "outside 2..16"),
    ("w=8,8", "lists 2 widths for a 3-layer"),
    ("x=3", "bad bit setting"),
    ("w=8 w=4", "given twice"),
    ("w=a", "must be integers"),
    ("", "empty"),
])
def test_errors(text, message) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_bits(text, 3)


def test_text_form_round_trips() -> None:
    bits = parse_bits("w=8,2,8 a=8,3,6 in=12 out=10", 3)
    assert parse_bits(str(bits), 3) == bits
