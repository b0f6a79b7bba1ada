"""What a target is (a row of the target table) and the choices of how it is reached.

A :class:`TargetInfo` says *where* and *what* (labgrid's Resource): the PlatformIO
environment of its firmware, its machine, core, board and power profile. *How* it is
started, reached, flashed and given a model is its driver class, one per kind of target
(:mod:`qhil.targets.drivers`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from qhil.common.errors import ConfigError
from qhil.targets.firmware import FIRMWARE_DIR
from qhil.targets.power import BOARD_PROFILES, BoardProfile

if TYPE_CHECKING:  # the drivers module imports this one
    from qhil.targets.drivers import Target

__all__ = ["TargetInfo", "EmulatorLink", "WeightsIn", "ModelRoom", "board_json",
           "firmware_flag"]


class EmulatorLink(Enum):
    """How the host reaches an emulated board: its UART (what silicon has; each request
    byte is one emulated interrupt, ~30-75 us) or its modelled Ethernet controller, a
    whole request per frame (docs/protocol.md#ethernet-link)."""

    UART = "uart"
    ETHERNET = "ethernet"

    @classmethod
    def parse(cls, text: str) -> EmulatorLink:
        try:
            return cls(text)
        except ValueError:
            raise ConfigError(f"unknown link '{text}' (choose from "
                              f"{', '.join(m.value for m in cls)})") from None


class WeightsIn(Enum):
    """Where a bench's models live on the device: uploaded into the RAM arena (LOAD), or
    compiled into the firmware's flash image (``qhil export-c``), the way products ship:
    each model is built into the target's ``-builtin`` firmware, which is started with it
    and answers from flash without an upload."""

    RAM = "ram"
    FLASH = "flash"

    @classmethod
    def parse(cls, text: str) -> WeightsIn:
        try:
            return cls(text)
        except ValueError:
            raise ConfigError(f"--weights-in '{text}': choose ram or flash") from None


@dataclass(frozen=True)
class ModelRoom:
    """Where a model goes on a device and how many bytes it may take there."""

    bytes: int
    where: str
    """"model arena" (RAM, LOAD) or "flash" (compiled into the firmware)"""


def firmware_flag(pio_env: str, name: str) -> int | None:
    """A ``-DNAME=value`` build flag of a PlatformIO environment (``QHIL_ARENA_SIZE``), as
    platformio.ini resolves it (extends, interpolation); None when it does not set it."""
    import re

    from platformio.project.config import ProjectConfig

    try:
        flags = " ".join(ProjectConfig(str(FIRMWARE_DIR / "platformio.ini")).get(
            f"env:{pio_env}", "build_flags"))
    except Exception:  # noqa: BLE001 - an environment it does not have, whatever it raises
        return None
    m = re.search(rf"-D{name}=(\d+)", flags)
    return int(m.group(1)) if m else None


def board_json(board: str) -> dict[str, Any]:
    """The in-repo PlatformIO board definition (``firmware/platform/qhilmcu/boards/``):
    flash and RAM sizes, upload protocols and the debug probes' target names."""
    path = FIRMWARE_DIR / "platform" / "qhilmcu" / "boards" / f"{board}.json"
    try:
        return dict(json.loads(path.read_text()))
    except FileNotFoundError:
        return {}


@dataclass(frozen=True)
class TargetInfo:
    """One row of the target table.

    :param pio_env: PlatformIO environment that builds its firmware
    :param driver: the class that starts and drives this kind of target
    :param machine: QEMU machine (``-M``) or Renode script name
    :param baud: serial baud rate of a board's UART
    :param board: what its firmware says in HELLO (the PlatformIO board id), so that a
        device reached by URL can be checked to be this target
    :param power_profile: the :data:`~qhil.targets.power.BOARD_PROFILES` entry its device
        energy is estimated with ("": none; the MPS2 FPGA images and QEMU have no power
        figure of their own, they borrow a Cortex-M4 part's and reports say so)
    :param qemu: the QEMU system emulator of a QEMU target, and the arguments its machine
        needs beyond the common ones
    :param links: the emulated links its firmware answers on, the default first (none for
        targets that are not emulators)
    :param builtin: the PlatformIO environment of its firmware with a model compiled into
        flash (``--weights-in flash``), if there is one
    """

    name: str
    pio_env: str
    driver: type[Target]
    machine: str = ""
    cpu: str = ""
    baud: int = 115200
    description: str = ""
    board: str = ""
    power_profile: str = ""
    qemu: tuple[str, ...] = ("qemu-system-arm",)
    links: tuple[EmulatorLink, ...] = ()
    builtin: str = ""

    @property
    def kind(self) -> str:
        """What reports and ``qhil devices`` print: the driver's kind."""
        return self.driver.kind

    @property
    def profile(self) -> BoardProfile | None:
        """The board power profile of its energy estimate, if it has one."""
        return BOARD_PROFILES[self.power_profile] if self.power_profile else None

    @property
    def flash_size(self) -> int:
        """The board's flash in bytes (0: unknown), from its board definition."""
        return int(board_json(self.board).get("upload", {}).get("maximum_size", 0))

    @property
    def upload_protocols(self) -> tuple[str, ...]:
        """The upload protocols its board definition names, the default first."""
        upload = board_json(self.board).get("upload", {})
        names = list(upload.get("protocols", []))
        default = upload.get("protocol")
        return tuple([default] + [n for n in names if n != default] if default else names)
