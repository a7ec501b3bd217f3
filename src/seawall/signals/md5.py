"""MD5 of the file bytes: what most shared hash lists in the field still carry."""

from seawall.signals.base import hex_pattern
from seawall.signals.digest import DigestSignal


class Md5Signal(DigestSignal):
    name = "md5"
    algorithm = "md5"
    hex_length = 32
    value_pattern = hex_pattern(32)
