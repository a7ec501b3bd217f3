"""The one registry of extension points.

Signal types, hash-list formats and actions register here; built-ins register through the same entry-point
group (``seawall.plugins``) a third-party package would use, and the rest of Seawall asks the
registry instead of importing a concrete signal or format by name.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from seawall.errors import InvalidInput, SeawallError

if TYPE_CHECKING:
    from seawall.actions.base import ActionExecutor
    from seawall.sharing.base import HashListFormat
    from seawall.sharing.exchanges.base import Exchange
    from seawall.signals.base import SignalType

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "seawall.plugins"


@dataclass
class Registry:
    signal_types: dict[str, SignalType] = field(default_factory=dict)
    hashlist_formats: dict[str, HashListFormat] = field(default_factory=dict)
    action_types: dict[str, ActionExecutor] = field(default_factory=dict)
    exchanges: dict[str, type[Exchange]] = field(default_factory=dict)

    def add_signal_type(self, signal: SignalType) -> None:
        self.signal_types[signal.name] = signal

    def add_hashlist_format(self, fmt: HashListFormat) -> None:
        self.hashlist_formats[fmt.name] = fmt

    def add_exchange(self, exchange: type[Exchange]) -> None:
        """An exchange sources may pull from (a class: every source configures its own instance)."""
        self.exchanges[exchange.name] = exchange

    def add_action(self, action: ActionExecutor) -> None:
        """An action the rules may name in ``then:`` (its executor runs when a rule chooses it)."""
        self.action_types[action.name] = action

    def action(self, name: str) -> ActionExecutor:
        try:
            return self.action_types[name]
        except KeyError:
            known = ", ".join(sorted(self.action_types))
            raise InvalidInput(f"unknown action {name!r}; known: {known}", code="unknown_action") from None

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


class PluginError(SeawallError):
    """A hook named in ``SEAWALL_PLUGINS`` could not be loaded; the process refuses to start without it."""

    status = 500
    code = "plugin_failed"


def configured_hooks(spec: str) -> list[Callable[[Registry], None]]:
    """Resolve ``module:function[,module:function…]`` (``SEAWALL_PLUGINS``) into registration hooks.

    Entry points need an installed package; this lets a deployment (or a test run) add a plugin that
    is only importable, e.g. a module on ``PYTHONPATH``. An operator asked for it by name, so a hook
    that cannot be loaded is an error, not a warning.
    """
    hooks: list[Callable[[Registry], None]] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        module_name, sep, attr = part.partition(":")
        if not sep or not module_name or not attr:
            raise PluginError(f"SEAWALL_PLUGINS: {part!r} is not of the form module:function")
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            raise PluginError(f"SEAWALL_PLUGINS: cannot import {module_name!r} ({type(exc).__name__}: {exc}); "
                              "is it on PYTHONPATH?") from exc
        hook = getattr(module, attr, None)
        if not callable(hook):
            raise PluginError(f"SEAWALL_PLUGINS: {module_name!r} has no function {attr!r}")
        hooks.append(hook)
    return hooks


_registry: Registry | None = None


def registry() -> Registry:
    """The process-wide registry, filled from every installed ``seawall.plugins`` entry point and the
    ``SEAWALL_PLUGINS`` hooks."""
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
        from seawall.config import Settings

        for hook in configured_hooks(Settings().plugins):
            hook(reg)
        _registry = reg
    return _registry
