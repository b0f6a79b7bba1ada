"""Targets that run the firmware: the table, one driver class per kind, power profiles."""

from qhil.targets.drivers import Connection, Target, open_target
from qhil.targets.info import EmulatorLink, TargetInfo, WeightsIn
from qhil.targets.power import BOARD_PROFILES, BoardProfile, load_profile, resolve_profile
from qhil.targets.targets import (
    TARGETS,
    TargetSettings,
    register_target,
    start_target,
    target_info,
)

__all__ = ["TARGETS", "Target", "TargetInfo", "TargetSettings", "Connection", "EmulatorLink",
           "WeightsIn", "open_target", "register_target", "start_target", "target_info",
           "BOARD_PROFILES", "BoardProfile", "load_profile", "resolve_profile"]
