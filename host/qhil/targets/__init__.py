"""Targets that run the firmware: native process, QEMU, Renode, real boards."""

from qhil.targets.targets import TARGETS, RunningTarget, TargetInfo, start_target, target_info

__all__ = ["TARGETS", "RunningTarget", "TargetInfo", "start_target", "target_info"]
