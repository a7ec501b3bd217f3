"""SHA-256 of the file bytes: the collision-resistant exact digest."""

from seawall.signals.base import hex_pattern
from seawall.signals.digest import DigestSignal


class Sha256Signal(DigestSignal):
    name = "sha256"
    algorithm = "sha256"
    hex_length = 64
    value_pattern = hex_pattern(64)
