"""qhil's in-repo PlatformIO development platform: no packages, system toolchains only."""

from platformio.public import PlatformBase


class QhilmcuPlatform(PlatformBase):
    pass
