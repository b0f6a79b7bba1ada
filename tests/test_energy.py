"""Energy proxies: the op-level model against a hand count, the device estimate against
its definition, and board profiles."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qhil.common.errors import ConfigError
from qhil.quant.config import parse_bits
from qhil.quant.energy import op_energy
from qhil.quant.random_model import random_quant_model
from qhil.targets import target_info
from qhil.targets.power import BOARD_PROFILES, BoardProfile, device_energy, load_profile


def test_op_level_energy_matches_a_hand_count() -> None:
    model = random_quant_model(np.random.default_rng(0), [3, 2], parse_bits("int8", 1))
    e = op_energy([(2, 3)], model.bits)
    # 6 MACs x (0.2 pJ 8x8 mult + 0.1 pJ 32-bit add) + 2 outputs x (3.1 + 0.1) requant
    assert e["compute_pj"] == pytest.approx(6 * 0.3 + 2 * 3.2)
    # words: weights 48 bits -> 2, biases 2, inputs 3 x int16 -> 2, outputs 2 x int16 -> 1
    assert e["memory_pj"] == pytest.approx(5.0 * (2 + 2 + 2 + 1))
    assert e["total_pj"] == pytest.approx(e["compute_pj"] + e["memory_pj"])


def test_fewer_bits_cost_less_and_float_costs_most() -> None:
    rng = np.random.default_rng(1)
    shapes = [(64, 11), (64, 64), (1, 64)]
    sizes = [11, 64, 64, 1]
    int8 = op_energy(shapes, random_quant_model(rng, sizes, parse_bits("int8", 3)).bits)
    w3a3 = op_energy(shapes, parse_bits("w3a3", 3))
    f32 = op_energy(shapes, None)
    assert w3a3["compute_pj"] < int8["compute_pj"] < f32["compute_pj"]
    assert w3a3["memory_pj"] < int8["memory_pj"] < f32["memory_pj"]


def test_device_energy_is_cost_over_clock_times_power() -> None:
    p = BOARD_PROFILES["stm32f411-100mhz"]
    # 3.3 V x 100 uA/MHz x 100 MHz = 33 mW; 1000 cycles at 100 MHz = 10 us -> 0.33 uJ
    assert p.active_power_w == pytest.approx(0.033)
    e = device_energy(1000, "cycles", p)
    assert e is not None and e["uj"] == pytest.approx(0.33) and e["basis"] == "cycles"
    e = device_energy(1000, "instructions", p)
    assert e is not None and "one cycle each assumed" in e["basis"]
    assert device_energy(1000, "ns", p) is None  # native: wall time is not an energy basis


def test_profiles_name_their_source_and_whether_it_was_checked() -> None:
    for p in BOARD_PROFILES.values():
        assert "datasheet" in p.source
        assert p.verified or "not checked" in p.source
    assert target_info("qemu-m4").profile is not None and target_info("native").profile is None
    assert target_info("nucleo-f446re").profile is None  # no figure we could stand behind


def test_user_profiles_are_validated(tmp_path: Path) -> None:
    good = {"name": "mine", "mcu": "X", "clock_hz": 48_000_000, "vdd_v": 1.8,
            "run_ua_per_mhz": 60.0, "source": "measured on my bench", "verified": True}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(good))
    assert load_profile(path) == BoardProfile(**good)
    path.write_text(json.dumps(good | {"clock_hz": 0}))
    with pytest.raises(ConfigError, match="must be > 0"):
        load_profile(path)
    path.write_text(json.dumps({"name": "x"}))
    with pytest.raises(ConfigError, match="fields: name, mcu"):
        load_profile(path)
