"""Build firmware with PlatformIO (offline core in ``.pio-core``) and find its ELF."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from qhil.common.errors import QhilError
from qhil.common.provenance import REPO_ROOT

__all__ = ["FIRMWARE_DIR", "build_firmware", "built_firmware", "elf_memory", "firmware_path",
           "pio_env", "firmware_source_hash", "upload_command", "BUILTIN_HEADER",
           "build_with_model", "builtin_lock"]

LOG = logging.getLogger(__name__)

FIRMWARE_DIR = REPO_ROOT / "firmware"


def pio_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PLATFORMIO_CORE_DIR", str(REPO_ROOT / ".pio-core"))
    env["PLATFORMIO_DISABLE_UPGRADE_CHECK"] = "true"
    env["PLATFORMIO_SETTING_ENABLE_TELEMETRY"] = "No"
    return env


def firmware_path(pio_environment: str) -> Path:
    name = "program" if pio_environment == "native" else "program.elf"
    return FIRMWARE_DIR / ".pio" / "build" / pio_environment / name


def built_firmware(pio_environment: str) -> Path:
    """The firmware already built for ``pio_environment`` (``--no-build``)."""
    path = firmware_path(pio_environment)
    if not path.is_file():
        raise QhilError(f"no firmware built for '{pio_environment}' at {path}: "
                        f"run 'qhil flash --target ...' or drop --no-build")
    return path


def build_firmware(pio_environment: str, target: str | None = None,
                   env: dict[str, str] | None = None) -> Path:
    """``pio run -e ENV`` (incremental; a no-op build takes about a second).

    :param target: a PlatformIO target such as ``upload``
    :param env: more environment for the build (the in-repo builder reads
        ``UPLOAD_PROTOCOL``; ``pio run`` has no option to override project settings)
    """
    pio = Path(sys.executable).with_name("pio")  # the venv's platformio
    cmd = [str(pio), "run", "-e", pio_environment] + (["-t", target] if target else [])
    with _build_lock():
        proc = subprocess.run(cmd, cwd=FIRMWARE_DIR, env=pio_env() | (env or {}),
                              capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-25:])
        what = f"'pio run -t {target}'" if target else "firmware build"
        raise QhilError(f"{what} for '{pio_environment}' failed:\n{tail}")
    return firmware_path(pio_environment)


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    """One ``pio run`` at a time in a checkout: SCons keeps one signature database for
    the project, and two builds at once (two benches, a sweep's jobs) corrupt it."""
    lock_dir = FIRMWARE_DIR / ".pio"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with (lock_dir / ".build-lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


#: The header a ``-builtin`` environment compiles in (``qhil export-c --name qhil_builtin``).
BUILTIN_HEADER = FIRMWARE_DIR / ".pio" / "builtin" / "qhil_builtin_model.h"


@contextlib.contextmanager
def builtin_lock() -> Iterator[None]:
    """Held from writing :data:`BUILTIN_HEADER` until the firmware built from it has
    started: another process building another model in between would start ours with
    theirs (benches on one checkout, a local Ray cluster)."""
    BUILTIN_HEADER.parent.mkdir(parents=True, exist_ok=True)
    with (BUILTIN_HEADER.parent / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def build_with_model(pio_environment: str, blob: bytes) -> Path:
    """Build a ``-builtin`` environment with ``blob`` compiled into flash (its header is
    written only when it changes, so a rebuild for the same model is a no-op). Call it
    under :func:`builtin_lock`, held until the target has started."""
    from qhil.quant.cheader import blob_to_c_header

    text = blob_to_c_header(blob, "qhil_builtin")
    BUILTIN_HEADER.parent.mkdir(parents=True, exist_ok=True)
    if not BUILTIN_HEADER.is_file() or BUILTIN_HEADER.read_text() != text:
        tmp = BUILTIN_HEADER.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(BUILTIN_HEADER)
    return build_firmware(pio_environment)


def firmware_source_hash() -> str:
    """sha256 (first 16 hex digits) of the firmware's sources as they are on disk (C,
    assembly, headers, linker scripts, the platform and platformio.ini; not builds):
    recorded with every measured firmware figure, so a table cannot outlive the code."""
    import hashlib

    digest = hashlib.sha256()
    files = [FIRMWARE_DIR / "platformio.ini"] + sorted(
        p for sub in ("src", "include", "boards", "platform", "test")
        for p in (FIRMWARE_DIR / sub).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and ".pio" not in p.parts)
    for path in files:
        digest.update(str(path.relative_to(FIRMWARE_DIR)).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def elf_memory(elf: Path) -> dict[str, int]:
    """Flash (vectors, code, read-only data, data image) and static RAM (data, bss, stack)."""
    from elftools.elf.elffile import ELFFile

    flash = ram = 0
    with elf.open("rb") as f:
        for sec in ELFFile(f).iter_sections():
            name, size = sec.name, int(sec["sh_size"])
            if name in (".vectors", ".text", ".ARM.exidx"):
                flash += size
            elif name == ".data":
                flash += size
                ram += size
            elif name in (".bss", ".stack"):
                ram += size
    return {"flash": flash, "ram": ram}


def upload_command(pio_environment: str, env: dict[str, str]) -> str:
    """The exact command ``pio run -t upload`` runs for ``env`` (``UPLOAD_PROTOCOL``,
    ``UPLOAD_PORT``): the in-repo builder prints it for ``-t upload_command``."""
    pio = Path(sys.executable).with_name("pio")
    with _build_lock():
        proc = subprocess.run([str(pio), "run", "-e", pio_environment, "-t", "upload_command"],
                              cwd=FIRMWARE_DIR, env=pio_env() | env, capture_output=True,
                              text=True, timeout=600)
    for line in proc.stdout.splitlines():
        if line.startswith("QHIL-UPLOAD-COMMAND: "):
            return line.split(": ", 1)[1].replace("\\\"", '"').strip()
    tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-10:])
    raise QhilError(f"the builder did not say its upload command for '{pio_environment}':\n{tail}")
