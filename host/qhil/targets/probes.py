"""Upload tools, one class per kind of probe (pyOCD's probe plugins, in small): what each
needs installed, what it checks without a probe attached, whether a probe answers, and
its failure output in one line.

The command an upload runs is the in-repo builder's (``pio run -t upload`` with
``$UPLOAD_PROTOCOL`` and ``$UPLOAD_PORT``; ``-t upload_command`` prints it): a probe class
checks that very command, never a copy of it.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

from qhil.targets.firmware import FIRMWARE_DIR

__all__ = ["UploadTool", "OpenOCD", "PyOCD", "BlackMagic", "GdbServer", "UPLOAD_TOOLS",
           "upload_tool", "PYOCD_PACK_PARTS"]

#: Parts whose pyOCD support comes in a CMSIS pack (not built in): one per line, the part
#: and the pack that has it.
PYOCD_PACK_PARTS = FIRMWARE_DIR / "probes" / "pyocd-pack-parts.txt"


class UploadTool(ABC):
    """One upload protocol of the builder and the program behind it."""

    protocol: ClassVar[str]
    program: ClassVar[str]
    install: ClassVar[str]
    """how to get the program, in the words a user types"""

    def path(self) -> str | None:
        local = Path(sys.executable).with_name(self.program)  # a venv's own (pyocd)
        return str(local) if local.is_file() else shutil.which(self.program)

    def missing(self) -> str | None:
        """One line when the program is not installed (None: it is)."""
        if self.path() is None:
            return f"{self.program} is not installed ({self.install})"
        return None

    def check_board(self, board: dict[str, Any]) -> str | None:
        """What is wrong with the board definition for this tool, found without a probe."""
        return None

    @abstractmethod
    def check_command(self, command: str) -> str | None:
        """Run the builder's upload ``command`` as far as it goes without a probe (the
        tool parses its configuration and stops); one line if it fails."""

    @abstractmethod
    def probe_visible(self, board: dict[str, Any]) -> str | None:
        """None when a probe answers; else one line: which probe is missing."""

    #: what to do when no probe answered
    NO_PROBE_FIX: ClassVar[str] = ("connect the board's debug USB, check it with 'lsusb', and "
                                   "close anything else using the probe")

    def failure(self, output: str) -> str:
        """An upload's output as one line: "no ST-LINK found" and the like when no probe
        answered (the tool's own words in brackets), else its first error line."""
        lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
        for needle, meaning in self.no_probe:
            hit = next((ln for ln in lines if needle in ln), None)
            if hit:
                return f"{meaning} ({self.program}: {hit})"
        error = next((ln for ln in lines if "error" in ln.lower() and "[upload]" not in ln), None)
        return f"{self.program}: {error}" if error else f"{self.program}: " + " | ".join(lines[-3:])

    #: what the tool prints when no probe answers, and what that means
    no_probe: ClassVar[tuple[tuple[str, str], ...]] = ()


def _run(cmd: list[str], timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    # the builder's commands name the ELF relative to the firmware folder
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, cwd=FIRMWARE_DIR)


class OpenOCD(UploadTool):
    protocol = "openocd"
    program = "openocd"
    install = "sudo apt-get install openocd, or make setup"
    no_probe = (("open failed", "no ST-LINK found"),
                ("unable to find a matching CMSIS-DAP device", "no CMSIS-DAP probe found"),
                ("No J-Link device found", "no J-Link found"))

    def check_command(self, command: str) -> str | None:
        # openocd runs -f and -c in order: '-c shutdown' after the last -f parses every
        # configuration file (interface, target) and exits before 'init' looks for a probe
        args = shlex.split(command)
        last_f = max(i for i, a in enumerate(args) if a == "-f") + 2
        proc = _run(args[:last_f] + ["-c", "shutdown"] + args[last_f:])
        if proc.returncode != 0:
            return f"openocd refused the configuration: {self.failure(proc.stderr)}"
        return None

    def probe_visible(self, board: dict[str, Any]) -> str | None:
        iface = board.get("debug", {}).get("openocd_interface", "stlink")
        target = board.get("debug", {}).get("openocd_target", "stm32f4x")
        proc = _run([self.program, "-f", f"interface/{iface}.cfg", "-f", f"target/{target}.cfg",
                     "-c", "init", "-c", "shutdown"])
        return None if proc.returncode == 0 else self.failure(proc.stderr)


class PyOCD(UploadTool):
    protocol = "pyocd"
    program = "pyocd"
    install = "pip install 'qhil[lab]', or make setup"
    no_probe = (("No connected debug probes", "no debug probe found"),
                ("No available debug probes", "no debug probe found"))

    def targets(self) -> set[str]:
        """pyOCD's targets here: built in, and from installed packs."""
        path = self.path()
        assert path is not None
        out = _run([path, "list", "--targets"]).stdout
        return {line.split()[0] for line in out.splitlines()[2:] if line.split()}

    @staticmethod
    def pack_fix(part: str) -> str:
        return f"run 'pyocd pack install {part}' (it downloads the pack)"

    @staticmethod
    def pack_parts() -> dict[str, str]:
        parts = {}
        for line in PYOCD_PACK_PARTS.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                part, pack = line.split()
                parts[part] = pack
        return parts

    def check_board(self, board: dict[str, Any]) -> str | None:
        part = board.get("debug", {}).get("pyocd_target", "")
        if not part:
            return "the board names no pyocd target (debug.pyocd_target)"
        if part in self.targets():
            return None
        if part in self.pack_parts():
            return (f"pyocd has no built-in target '{part}' and its pack "
                    f"({self.pack_parts()[part]}) is not installed: {self.pack_fix(part)}")
        return f"pyocd knows no target '{part}' (not built in, not in {PYOCD_PACK_PARTS.name})"

    def check_command(self, command: str) -> str | None:
        args = shlex.split(command)
        part = args[args.index("-t") + 1]
        return self.check_board({"debug": {"pyocd_target": part}})

    def probe_visible(self, board: dict[str, Any]) -> str | None:
        path = self.path()
        assert path is not None
        out = _run([path, "list", "--probes"]).stdout
        return self.failure(out) if "No available debug probes" in out else None


class GdbServer(UploadTool):
    """Any GDB server that has the target attached already (QEMU's ``-gdb``, a J-Link or
    openocd GDB server): gdb-multiarch runs ``probes/gdb-load.gdb`` against it."""

    protocol = "gdb-server"
    program = "gdb-multiarch"
    install = "sudo apt-get install gdb-multiarch, or make setup"
    no_probe = (("Connection refused", "no GDB server answers"),
                ("No such file or directory", "no GDB probe at that port"),
                ("Connection timed out", "no GDB server answers"))

    def check_command(self, command: str) -> str | None:
        args = shlex.split(command)
        proc = _run([args[0], "--version"])
        if proc.returncode != 0:
            return f"{args[0]} does not run: {self.failure(proc.stderr)}"
        script = Path(args[args.index("-x") + 1])
        if not script.is_file():
            return f"the load script {script} is missing"
        remote = next((a for a in args if a.startswith("target extended-remote")), "").split()
        if len(remote) < 3:
            return ("no GDB server address: give --upload-port (HOST:PORT of a GDB server, or "
                    "a Black Magic probe's serial port)")
        return None

    def probe_visible(self, board: dict[str, Any]) -> str | None:
        return None  # a GDB server is reached at the upload port: the upload itself tells


class BlackMagic(GdbServer):
    """A Black Magic probe: a GDB server on the probe's first serial port, which must scan
    for the target and attach to it before the load script."""

    protocol = "blackmagic"


UPLOAD_TOOLS: dict[str, UploadTool] = {t.protocol: t for t in (OpenOCD(), PyOCD(), BlackMagic(),
                                                               GdbServer())}


def upload_tool(protocol: str) -> UploadTool:
    from qhil.common.errors import ConfigError

    try:
        return UPLOAD_TOOLS[protocol]
    except KeyError:
        raise ConfigError(f"unknown upload protocol '{protocol}' "
                          f"({', '.join(UPLOAD_TOOLS)})") from None
