"""The one exception type the CLI turns into a clean error line and exit code 2."""

from __future__ import annotations

__all__ = ["QhilError", "ModelFormatError", "ConfigError", "LinkError", "DeviceError"]


class QhilError(Exception):
    """A problem the user can fix: bad input, missing file, unreachable target.

    The CLI prints ``qhil: error: <message>`` and exits with status 2; no traceback.
    """


class ConfigError(QhilError):
    """A bad option value, bit configuration or scenario file."""


class ModelFormatError(QhilError):
    """A model folder or ``.qhil`` blob that is missing, malformed or inconsistent."""


class LinkError(QhilError):
    """The serial link failed: timeout, framing or CRC error beyond the retry budget."""


class DeviceError(QhilError):
    """The device answered with an error code."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code
