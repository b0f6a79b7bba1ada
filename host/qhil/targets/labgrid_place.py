"""A labgrid place as a target (``--target labgrid:PLACE``): a board on another lab PC.

qhil drives labgrid through its own client, ``labgrid-client`` (the ``qhil[lab]`` extra),
so what it does is what a user at the lab would type:

1. ``acquire`` the place (held by someone else: one line saying by whom, nothing runs);
2. ``env`` lists the place's resources: its ``NetworkSerialPort`` (the exporter's ser2net,
   RFC 2217) is the device's URL, a ``NetworkPowerPort`` (any network power switch labgrid
   drives) is how a device that stops answering is brought back: ``power cycle``;
3. ``release`` on every way out: the end of the run, Ctrl-C, an error. A ``kill -9`` of qhil
   leaves the place acquired: ``labgrid-client -p PLACE release`` frees it.

The coordinator is ``--coordinator`` or ``$LG_COORDINATOR`` (host:port).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from qhil.common.errors import ConfigError, QhilError

__all__ = ["LabgridPlace", "PREFIX", "place_name"]

LOG = logging.getLogger(__name__)
PREFIX = "labgrid:"


def place_name(target: str) -> str | None:
    """``labgrid:bench-1`` -> ``bench-1``; None for other targets."""
    return target[len(PREFIX):] if target.startswith(PREFIX) else None


def _client() -> str:
    # the labgrid-client beside this interpreter first: the one installed with qhil[lab]
    local = Path(sys.executable).with_name("labgrid-client")
    found = str(local) if local.is_file() else shutil.which("labgrid-client")
    if found is None:
        raise ConfigError("labgrid is not installed: pip install 'qhil[lab]' (README: "
                          "beyond one machine)")
    return found


@dataclass
class LabgridPlace:
    """One place, acquired by :meth:`acquire` and given back by :meth:`release`."""

    name: str
    coordinator: str | None = None
    acquired: bool = False

    def _run(self, *args: str, timeout: float = 60.0) -> str:
        address = self.coordinator or os.environ.get("LG_COORDINATOR")
        if not address:
            raise ConfigError(f"--target {PREFIX}{self.name} needs a labgrid coordinator: "
                              "--coordinator HOST:PORT or LG_COORDINATOR")
        cmd = [_client(), "-x", address, "-p", self.name, *args]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                                  env={**os.environ, "LG_COORDINATOR": address})
        except subprocess.TimeoutExpired:
            raise QhilError(f"labgrid-client {args[0]} on place '{self.name}' got no answer "
                            f"from the coordinator at {address} in {timeout:.0f} s") from None
        if proc.returncode != 0:
            raise QhilError(_first_error(proc.stderr) or f"labgrid-client {args[0]} failed")
        return proc.stdout

    def acquire(self) -> None:
        try:
            self._run("acquire")
        except QhilError as exc:
            text = str(exc)
            if "already acquired" in text:
                raise ConfigError(f"labgrid place '{self.name}' is busy: {text}") from None
            raise QhilError(f"labgrid place '{self.name}': {text}") from None
        self.acquired = True
        LOG.info("acquired labgrid place %s", self.name)

    def release(self) -> None:
        if not self.acquired:
            return
        try:
            self._run("release", timeout=30.0)
            LOG.info("released labgrid place %s", self.name)
        except QhilError as exc:  # on the way out: say it, do not hide the first error
            LOG.warning("could not release labgrid place %s: %s (free it with "
                        "'labgrid-client -p %s release')", self.name, exc, self.name)
        self.acquired = False

    def resources(self) -> list[dict[str, Any]]:
        """The place's resources as ``labgrid-client env`` lists them: ``{cls: params}``."""
        env = yaml.safe_load(self._run("env")) or {}
        target = (env.get("targets") or {}).get(self.name) or {}
        return list(target.get("resources") or [])

    def serial_url(self, wait: float = 15.0) -> str:
        """The device's URL: the place's ``NetworkSerialPort`` over RFC 2217 (or raw TCP).
        The exporter starts its ser2net when the place is acquired: its TCP port may take a
        moment to appear."""
        deadline = time.monotonic() + wait
        while True:
            ports = [r["NetworkSerialPort"] for r in self.resources() if "NetworkSerialPort" in r]
            if not ports:
                raise QhilError(f"labgrid place '{self.name}' has no serial port "
                                "(NetworkSerialPort) among its resources")
            port = ports[0]
            if port.get("port"):
                if port.get("protocol", "rfc2217") == "rfc2217":
                    # ser2net 4 does not answer RFC 2217's control option
                    return f"rfc2217://{port['host']}:{port['port']}?ign_set_control"
                return f"socket://{port['host']}:{port['port']}"
            if time.monotonic() > deadline:
                raise QhilError(f"labgrid place '{self.name}': its exporter published no TCP "
                                f"port for the serial port in {wait:.0f} s")
            time.sleep(0.2)

    @property
    def has_power(self) -> bool:
        return any("NetworkPowerPort" in r for r in self.resources())

    def power_cycle(self) -> None:
        self._run("power", "cycle", "--delay", "0.5")
        LOG.info("power-cycled labgrid place %s", self.name)
        time.sleep(0.2)


def _first_error(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.lower().startswith(("labgrid-client:", "error"))]
    text = (errors or lines or [""])[-1]
    # the coordinator's messages repr() the whole place: its name says enough
    text = re.sub(r"place Place\(name='([^']+)'.*\) has", r"place \1 has", text)
    return text.removeprefix("labgrid-client: ").removeprefix("error: ")
