"""The one registry of extension points.

Signal types and hash-list formats register here; built-ins register through the same entry-point
group (``seawall.plugins``) a third-party package would use, and the rest of Seawall asks the
registry instead of importing a concrete signal or format by name.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from seawall.errors import InvalidInput

if TYPE_CHECKING:
    from seawall.sharing.base import HashListFormat
    from seawall.signals.base import SignalType

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "seawall.plugins"


@dataclass
class Registry:
    signal_types: dict[str, SignalType] = field(default_factory=dict)
    hashlist_formats: dict[str, HashListFormat] = field(default_factory=dict)

    def add_signal_type(self, signal: SignalType) -> None:
        self.signal_types[signal.name] = signal

    def add_hashlist_format(self, fmt: HashListFormat) -> None:
        self.hashlist_formats[fmt.name] = fmt

    def signal(self, name: str) -> SignalType:
        """The signal type called ``name`` or a 422 naming the known ones."""
        try:
            return self.signal_types[name]
        except KeyError:
            known = ", ".join(sorted(self.signal_types))
            raise InvalidInput(
                f"unknown signal type {name!r}; known: {known}", code="unknown_signal_type"
            ) from None

    def hashlist_format(self, name: str) -> HashListFormat:
        try:
            return self.hashlist_formats[name]
        except KeyError:
            known = ", ".join(sorted(self.hashlist_formats))
            raise InvalidInput(f"unknown hash-list format {name!r}; known: {known}", code="unknown_format") from None


_registry: Registry | None = None


def registry() -> Registry:
    """The process-wide registry, filled from every installed ``seawall.plugins`` entry point."""
    global _registry
    if _registry is None:
        reg = Registry()
        from seawall import builtin

        builtin.register(reg)
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.value == "seawall.builtin:register":
                continue
            try:
                hook: Callable[[Registry], None] = ep.load()
                hook(reg)
            except Exception:  # a broken third-party plugin must not take the engine down
                log.exception("plugin %s failed to register", ep.name)
        _registry = reg
    return _registry
