"""The target table: every target qhil knows, the options that reach one, and starting it.

Each row is a :class:`~qhil.targets.info.TargetInfo` naming its driver class
(:mod:`qhil.targets.drivers`): ``native`` is the firmware as a host process behind a pty;
``qemu-*`` start QEMU with ``-icount shift=7`` (deterministic instruction counts);
``renode-*`` start Renode when ``renode`` is on PATH; boards are reached through a serial
port given by the user; ``labgrid:PLACE`` is a board of a labgrid place. A new target of a
known kind is a row here; a new kind is a driver class (docs/api.md#extending) and
:func:`register_target` adds its rows, from any module.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from qhil.common.errors import ConfigError
from qhil.common.settings import positive_float, positive_int, setting
from qhil.link.faults import LinkFaults
from qhil.link.framing import LoadPrep
from qhil.targets.drivers import (
    BoardTarget,
    Connection,
    LabgridTarget,
    NativeTarget,
    QemuTarget,
    RenodeTarget,
    Target,
    open_target,
)
from qhil.targets.info import EmulatorLink, TargetInfo, WeightsIn, firmware_flag
from qhil.targets.labgrid_place import place_name

__all__ = ["TargetInfo", "TARGETS", "Target", "start_target", "target_info", "register_target",
           "TargetSettings", "EmulatorLink", "WeightsIn", "targets_with_room"]

LOG = logging.getLogger(__name__)

F411 = "stm32f411-100mhz"
# QEMU models the MPS2 images' LAN9118 (AN385, AN386, AN500; not the AN505's)
LAN9118 = (EmulatorLink.ETHERNET, EmulatorLink.UART)
UART = (EmulatorLink.UART,)
# No profile for the STM32F446 (Nucleo-F446RE), the nRF51 (micro:bit, qemu-m0) or the M33
# image: give one with --board-profile; those reports carry the op-level estimate only.
TARGETS: dict[str, TargetInfo] = {t.name: t for t in [
    TargetInfo("native", "native", NativeTarget, description="host process behind a pty",
               board="native"),
    TargetInfo("qemu-m0", "qemu-m0", QemuTarget, "microbit", "cortex-m0",
               description="QEMU BBC micro:bit (nRF51822, 16 KB RAM)", board="microbit_qemu",
               links=UART, builtin="qemu-m0-builtin"),
    TargetInfo("qemu-m0-builtin", "qemu-m0-builtin", QemuTarget, "microbit", "cortex-m0",
               description="qemu-m0 with a model compiled into flash "
                           "(firmware/.pio/builtin/qhil_builtin_model.h, see platformio.ini)",
               board="microbit_qemu", links=UART),
    TargetInfo("qemu-m3", "qemu-m3", QemuTarget, "mps2-an385", "cortex-m3",
               description="QEMU MPS2 AN385",
               board="mps2_an385", power_profile=F411, links=LAN9118),
    TargetInfo("qemu-m4", "qemu-m4", QemuTarget, "mps2-an386", "cortex-m4",
               description="QEMU MPS2 AN386",
               board="mps2_an386", power_profile=F411, links=LAN9118, builtin="qemu-m4-builtin"),
    TargetInfo("qemu-m4-builtin", "qemu-m4-builtin", QemuTarget, "mps2-an386", "cortex-m4",
               description="qemu-m4 with a model compiled into flash (--weights-in flash)",
               board="mps2_an386", power_profile=F411, links=LAN9118),
    TargetInfo("qemu-m7", "qemu-m7", QemuTarget, "mps2-an500", "cortex-m7",
               description="QEMU MPS2 AN500",
               board="mps2_an500", power_profile=F411, links=LAN9118),
    TargetInfo("qemu-m33", "qemu-m33", QemuTarget, "mps2-an505", "cortex-m33",
               description="QEMU MPS2 AN505 (Cortex-M33, DSP and FPU; Secure state)",
               board="mps2_an505", links=UART),
    TargetInfo("qemu-m55", "qemu-m55", QemuTarget, "mps3-an547", "cortex-m55",
               description="QEMU MPS3 AN547 (Cortex-M55 with Helium and FPU; Secure state)",
               board="mps3_an547", links=UART),
    TargetInfo("qemu-rv32", "qemu-rv32", QemuTarget, "virt", "rv32imac",
               description="QEMU virt, riscv32 (rv32imac, NS16550A UART; no core clock)",
               board="qemu_virt_rv32", qemu=("qemu-system-riscv32", "-bios", "none"), links=UART),
    TargetInfo("qemu-stm32f4", "qemu-stm32f4", QemuTarget, "netduinoplus2", "cortex-m4",
               description="QEMU netduinoplus2 (STM32F405, USART1)", board="netduinoplus2",
               power_profile=F411, links=UART),
    TargetInfo("renode-stm32f4", "blackpill-f411", RenodeTarget, "qhil-stm32f4.resc",
               "cortex-m4", description="Renode STM32F4 (needs renode on PATH)",
               board="blackpill_f411", power_profile=F411),
    TargetInfo("nucleo-f446re", "nucleo-f446re", BoardTarget, cpu="cortex-m4",
               description="ST Nucleo-F446RE, USART2 via ST-LINK VCP", board="nucleo_f446re"),
    TargetInfo("blackpill-f411", "blackpill-f411", BoardTarget, cpu="cortex-m4",
               description="WeAct Black Pill F411, USART1 on PA9/PA10", board="blackpill_f411",
               power_profile=F411),
]}


def _compiled_by_clang(info: TargetInfo) -> TargetInfo:
    """``info``'s machine with the firmware's C compiled by clang (``custom_compiler`` in
    platformio.ini, env ``<env>-clang``): BENCHMARKS compares the compilers per core."""
    return dataclasses.replace(info, name=f"{info.name}-clang", pio_env=f"{info.pio_env}-clang",
                               description=f"{info.name}, its C compiled by clang", builtin="")


TARGETS.update((t.name, t) for t in (_compiled_by_clang(TARGETS[n])
                                     for n in ("qemu-m0", "qemu-m3", "qemu-m4", "qemu-m55")))


def register_target(info: TargetInfo) -> TargetInfo:
    """Add a row to the table (a target of a kind defined elsewhere: a test, a plugin);
    ``--target NAME`` then reaches it like any other. A name already taken is refused."""
    if info.name in TARGETS and TARGETS[info.name] != info:
        raise ConfigError(f"target '{info.name}' exists already")
    TARGETS[info.name] = info
    return info


def target_info(name: str) -> TargetInfo:
    place = place_name(name)
    if place:
        return TargetInfo(name, "", LabgridTarget, place,
                          description=f"the board of labgrid place '{place}'")
    try:
        return TARGETS[name]
    except KeyError:
        raise ConfigError(f"unknown target '{name}' (choose from {', '.join(TARGETS)})") from None


def start_target(name: str, port: str | None = None, build: bool = True,
                 timeout: float = 2.0, faults: LinkFaults | None = None,
                 allow_mismatch: bool = False, coordinator: str | None = None,
                 link: EmulatorLink | None = None, link_baud: int | None = None) -> Target:
    """Start (or connect to) a target and say HELLO: its driver, started.

    :param port: where the device is: a board's serial device, or a pyserial URL
        (``rfc2217://host:port``, ``socket://host:port``) for any target, whose firmware
        then runs elsewhere and is neither built nor started here
    :param build: build the firmware first (incremental)
    :param faults: damage the link on purpose (see :mod:`qhil.link.faults`)
    :param allow_mismatch: run on a device whose HELLO names another board than the
        target's (a warning instead of a refusal)
    :param coordinator: labgrid coordinator for ``labgrid:PLACE`` targets (default:
        ``$LG_COORDINATOR``); the place is acquired here and released by ``stop()``
    :param link: the emulated link (default: the target's first, Ethernet where QEMU
        models the board's controller); refused for a target without it
    :param link_baud: pace the link like a UART at this baud rate (10 bit times a byte)
    """
    connection = Connection(port=port, link=link, link_baud=link_baud, faults=faults,
                            timeout=timeout, allow_mismatch=allow_mismatch,
                            coordinator=coordinator)
    return open_target(target_info(name), connection).start(build)


def targets_with_room(needed: int, weights_in: WeightsIn) -> list[str]:
    """The targets whose model room (their firmware's RAM arena, or with ``FLASH`` the flash
    their built firmware leaves) holds ``needed`` bytes: named in a refusal."""
    names = []
    for info in TARGETS.values():
        if weights_in is WeightsIn.FLASH:
            room = open_target(info).flash_room() if info.builtin else None
        else:
            room = firmware_flag(info.pio_env, "QHIL_ARENA_SIZE") if info.pio_env else None
        if room is not None and room >= needed and not info.name.endswith("-builtin"):
            names.append(info.name)
    return names


@dataclass(frozen=True)
class TargetSettings:
    """Where a command's device is: the options every device command shares."""

    target: str = setting("qemu-m4", help=(
        "where the firmware runs: " + ", ".join(TARGETS) + ", or labgrid:PLACE (a board "
        "shared through labgrid)"))
    port: str | None = setting(None, help=(
        "where the device is: a board's serial port (/dev/ttyACM0, see 'qhil devices') or, "
        "for any target, a pyserial URL (rfc2217://lab-pc:2000, socket://host:port) whose "
        "firmware then runs there; the device's HELLO must name the target's board"))
    allow_mismatch: bool = setting(False, help=(
        "run even when the device at --port says it is another board"))
    coordinator: str | None = setting(None, metavar="HOST:PORT", help=(
        "labgrid coordinator of --target labgrid:PLACE (default: $LG_COORDINATOR)"))
    no_build: bool = setting(False, help=(
        "use the firmware already built instead of running 'pio run' first"))
    timeout: float = setting(2.0, parse=positive_float, help=(
        "seconds to wait for each device answer"))
    link: str | None = setting(None, metavar="LINK", help=(
        "how the host reaches an emulated board: 'ethernet' (the default where QEMU models "
        "the board's Ethernet controller: qemu-m3, qemu-m4, qemu-m7; a request per frame, "
        "~20x faster round trips) or 'uart' (what silicon has; every other target)"))
    weights_in: str = setting("ram", metavar="{ram,flash}", help=(
        "'ram': models are uploaded into the device's RAM arena; 'flash': each is compiled "
        "into the firmware's flash image and the target started with it, the way products "
        "ship (qemu-m0, qemu-m4; arena B then shows '-')"))
    widen_weights: bool = setting(False, help=(
        "let the kernel copy the weights into a wider form at load where that is faster "
        "(the Cortex-M4/M7 DSP kernel: int16, two weights per SMLAD); the copy's RAM is in "
        "the report's arena bytes. Default: weights are read where the blob keeps them, "
        "laid out for the target's kernel by the host (docs/model-format.md#layouts)"))
    compact_load: bool = setting(False, help=(
        "have the kernel keep nothing at load (no starting sums or requantization records): "
        "the arena holds the blob alone, at more instructions per inference (the DSP and "
        "Helium kernels; a board whose arena has no room for them gets this form anyway)"))
    link_baud: int | None = setting(None, parse=positive_int, metavar="BAUD", help=(
        "pace the link like a board's UART at this baud rate, 10 bit times a byte each way "
        "(115200: an ST-LINK VCP), so timeouts and round trips are a board's (default: as "
        "fast as the link goes)"))

    def __post_init__(self) -> None:
        if not place_name(self.target):  # refused before anything runs
            self.open()
        if self.where_weights is WeightsIn.FLASH:
            if not self.info.builtin or self.port:
                with_builtin = ", ".join(t.name for t in TARGETS.values() if t.builtin)
                raise ConfigError(f"--weights-in flash: {self.target} has no firmware build with "
                                  f"a model compiled in (targets that have: {with_builtin})")
            if self.widen_weights:
                raise ConfigError("--widen-weights copies weights into RAM at load; with "
                                  "--weights-in flash they are read from flash: choose one")
        if self.widen_weights and self.compact_load:
            raise ConfigError("--widen-weights makes a copy at load, --compact-load keeps "
                              "nothing: choose one")

    @property
    def load_prep(self) -> LoadPrep:
        """What the kernel may make at load (LOAD_BEGIN's flags)."""
        if self.widen_weights:
            return LoadPrep.WIDEN
        return LoadPrep.COMPACT if self.compact_load else LoadPrep.STORED

    @property
    def where_weights(self) -> WeightsIn:
        return WeightsIn.parse(self.weights_in)

    @property
    def info(self) -> TargetInfo:
        return target_info(self.target)

    @property
    def emulator_link(self) -> EmulatorLink | None:
        return EmulatorLink.parse(self.link) if self.link else None

    def connection(self, faults: LinkFaults | None = None) -> Connection:
        return Connection(port=self.port, link=self.emulator_link, link_baud=self.link_baud,
                          faults=faults, timeout=self.timeout,
                          allow_mismatch=self.allow_mismatch, coordinator=self.coordinator)

    def open(self, faults: LinkFaults | None = None) -> Target:
        """The target's driver, not started (its options checked)."""
        return open_target(self.info, self.connection(faults))

    def start(self, faults: LinkFaults | None = None) -> Target:
        """Build (unless ``no_build``), start or connect, and say HELLO. With ``--weights-in
        flash`` each model is built into the firmware when it is put on the target
        (:meth:`Target.put_model`)."""
        return self.open(faults).start(not self.no_build)
