"""Targets that run the firmware: native process, QEMU, Renode, real boards."""

from qhil.targets.power import BOARD_PROFILES, BoardProfile, load_profile
from qhil.targets.targets import (
    TARGETS,
    RunningTarget,
    TargetInfo,
    TargetKind,
    TargetSettings,
    start_target,
    target_info,
)

__all__ = ["TARGETS", "RunningTarget", "TargetInfo", "TargetKind", "TargetSettings", "start_target",
           "target_info", "BOARD_PROFILES", "BoardProfile", "load_profile"]
