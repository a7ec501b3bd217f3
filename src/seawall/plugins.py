"""The one registry of extension points, and how plugins fill it.

Every way to extend Seawall is listed here (see :data:`EXTENSION_POINTS`), each with one ``add_…``
method on :class:`Registry`:

=================  ==========================  =====================================================
kind               method                      what it is
=================  ==========================  =====================================================
``signal_type``    :meth:`Registry.add_signal_type`   a fingerprint (:class:`seawall.signals.base.SignalType`):
                                               how to compute, normalise and compare it, its own index
                                               (``create_index``) and the names of its query variants
                                               (``variant_names``)
``content_type``   :meth:`Registry.add_content_type`  a kind of upload (``image``, ``video``…) the API accepts
``hashlist_format`` :meth:`Registry.add_hashlist_format` a hash-list file format for import and export
                                               (:class:`seawall.sharing.base.HashListFormat`)
``exchange``       :meth:`Registry.add_exchange`      a source or sink of shared hashes (anything with a
                                               ``name``; see :class:`Exchange`)
``action``         :meth:`Registry.add_action`        something a rule may do (``then: - block``), an
                                               :class:`seawall.actions.base.ActionExecutor`
``webhook_event``  :meth:`Registry.add_event_type`    an event type webhooks may subscribe to; an action that
                                               emits its own event registers it here so it is delivered
``connector``      :meth:`Registry.add_connector`     a platform integration (see :class:`Connector`)
=================  ==========================  =====================================================

A plugin is a function ``register(reg: Registry) -> None`` published under the entry-point group
``seawall.plugins`` (or named in ``SEAWALL_PLUGINS`` as ``module:function``). Seawall's own built-ins
(:mod:`seawall.builtin`) are loaded through the very same road, first. Rules of the house:

* a name is registered once per kind: a second registration is refused with an error naming both
  plugins (a safety tool must not let one plugin silently replace another's matcher);
* a plugin that fails to load stops start-up with its name, unless ``SEAWALL_PLUGINS_DEGRADED`` is
  true: then the node starts without it (and without anything it had registered), and ``/healthz``
  says ``degraded`` naming the plugin;
* the rest of Seawall asks the registry; ``seawall plugins`` and ``GET /v1/plugins`` list what is
  loaded and from which plugin and package.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from seawall.errors import InvalidInput, SeawallError

if TYPE_CHECKING:
    from seawall.actions.base import ActionExecutor
    from seawall.sharing.base import HashListFormat
    from seawall.signals.base import SignalType

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "seawall.plugins"
#: The entry point of Seawall's own built-ins; loaded first, through the same code as any plugin.
BUILTIN_ENTRY_POINT = "seawall.builtin:register"

#: Every extension point: kind → what registering one means. Data, so docs and the listing agree.
EXTENSION_POINTS: dict[str, str] = {
    "signal_type": "A fingerprint with its own index and variant names (seawall.signals.base.SignalType).",
    "content_type": "A kind of upload the API accepts (image, file, text, video…).",
    "hashlist_format": "A hash-list file format for bank import/export (seawall.sharing.base.HashListFormat).",
    "exchange": "A source or sink of shared hashes, pulled page by page (anything with a name).",
    "action": "Something a rule may do (seawall.actions.base.ActionExecutor).",
    "webhook_event": "An event type webhooks may subscribe to.",
    "connector": "A platform integration (a chat server module, a CMS hook…).",
}

#: A registration hook: what an entry point or ``SEAWALL_PLUGINS`` names.
Hook = Callable[["Registry"], None]


@runtime_checkable
class Exchange(Protocol):
    """The least the registry needs of an exchange: its name. The full interface (pull pages from a
    checkpoint, optional push and feedback) lives in ``seawall.sharing.exchanges.base``; built-in
    exchanges register their class (each source configures its own instance), and any object or
    class that has a ``name`` registers."""

    name: str


@runtime_checkable
class Connector(Protocol):
    """A platform integration. Connectors run beside the platform and talk to Seawall's API and
    webhooks; registering one makes it visible (``seawall plugins``) and lets other plugins find it."""

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Registration:
    """One loaded extension: what it is, and which plugin (and distribution package) brought it."""

    kind: str
    name: str
    plugin: str
    package: str
    description: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name, "plugin": self.plugin, "package": self.package,
                "description": self.description}


@dataclass(frozen=True, slots=True)
class PluginFailure:
    """A plugin that did not load while ``SEAWALL_PLUGINS_DEGRADED`` allowed the node to start anyway."""

    plugin: str
    package: str
    error: str

    def to_dict(self) -> dict[str, str]:
        return {"plugin": self.plugin, "package": self.package, "error": self.error}


class PluginError(SeawallError):
    """A plugin could not be loaded or registered something wrongly; the process refuses to start."""

    status = 500
    code = "plugin_failed"


class DuplicateRegistration(PluginError):
    """Two plugins registered the same name for the same kind of extension."""

    code = "plugin_duplicate"


@dataclass
class Registry:
    signal_types: dict[str, SignalType] = field(default_factory=dict)
    hashlist_formats: dict[str, HashListFormat] = field(default_factory=dict)
    action_types: dict[str, ActionExecutor] = field(default_factory=dict)
    #: content type → description
    content_types: dict[str, str] = field(default_factory=dict)
    #: webhook event type → description
    event_types: dict[str, str] = field(default_factory=dict)
    exchanges: dict[str, Exchange] = field(default_factory=dict)
    connectors: dict[str, Connector] = field(default_factory=dict)
    #: (kind, name) → who registered it, in registration order.
    registrations: dict[tuple[str, str], Registration] = field(default_factory=dict)
    #: Plugins that failed while degraded start-up was allowed (reported by /healthz).
    failures: list[PluginFailure] = field(default_factory=list)
    #: The plugin whose hook is running; registrations made outside :meth:`loading` are ``direct``.
    _plugin: tuple[str, str] = ("direct", "")

    # --- loading ------------------------------------------------------------------------------
    @contextmanager
    def loading(self, plugin: str, package: str = "") -> Iterator[None]:
        """Attribute what is registered inside to ``plugin``; if it raises, undo all of it."""
        before = self._plugin
        self._plugin = (plugin, package)
        mark = len(self.registrations)
        try:
            yield
        except BaseException:
            for key in list(self.registrations)[mark:]:
                self.remove(*key)
            raise
        finally:
            self._plugin = before

    def load(self, plugin: str, hook: Hook, *, package: str = "", degraded: bool = False) -> bool:
        """Run one plugin's hook. A failure raises :class:`PluginError` naming the plugin or, when
        ``degraded``, is recorded in :attr:`failures` (the plugin's registrations undone); False then."""
        try:
            with self.loading(plugin, package):
                hook(self)
            return True
        except Exception as exc:
            where = f"plugin {plugin!r}" + (f" (package {package})" if package else "")
            message = exc.message if isinstance(exc, SeawallError) else f"{type(exc).__name__}: {exc}"
            if not degraded:
                raise PluginError(f"{where} failed to load: {message}. Fix or uninstall it, or set "
                                  "SEAWALL_PLUGINS_DEGRADED=true to start without it",
                                  code=getattr(exc, "code", PluginError.code)
                                  if isinstance(exc, PluginError) else PluginError.code) from exc
            log.error("%s failed to load and is NOT active (degraded start): %s", where, message, exc_info=exc)
            self.failures.append(PluginFailure(plugin, package, message))
            return False

    # --- registering --------------------------------------------------------------------------
    def _claim(self, kind: str, name: str, description: str) -> None:
        if not isinstance(name, str) or not name:
            raise PluginError(f"a {kind} must have a non-empty string name, got {name!r}")
        key = (kind, name)
        plugin, package = self._plugin
        held = self.registrations.get(key)
        if held is not None:
            raise DuplicateRegistration(
                f"{kind} {name!r} is registered twice: first by plugin {held.plugin!r}"
                f"{f' ({held.package})' if held.package else ''}, again by plugin {plugin!r}"
                f"{f' ({package})' if package else ''}; names must be unique, so rename one or uninstall a plugin",
                detail={"kind": kind, "name": name, "first": held.plugin, "second": plugin})
        self.registrations[key] = Registration(kind, name, plugin, package, description)

    def remove(self, kind: str, name: str) -> None:
        """Withdraw a registration on purpose (a deployment replacing a built-in with its own
        configuration of it): the explicit road, since registering the same name twice is refused."""
        self.registrations.pop((kind, name), None)
        tables: dict[str, dict[str, Any]] = {
            "signal_type": self.signal_types, "hashlist_format": self.hashlist_formats,
            "action": self.action_types, "content_type": self.content_types, "webhook_event": self.event_types,
            "exchange": self.exchanges, "connector": self.connectors,
        }
        tables[kind].pop(name, None)

    def add_signal_type(self, signal: SignalType) -> None:
        """A signal type; its ``create_index`` and ``variant_names`` come with it."""
        self._claim("signal_type", signal.name, (signal.__doc__ or "").strip().split("\n")[0])
        self.signal_types[signal.name] = signal

    def add_content_type(self, name: str, description: str = "") -> None:
        """A kind of upload the API accepts; signal types say which ones they compute from."""
        self._claim("content_type", name, description)
        self.content_types[name] = description

    def add_hashlist_format(self, fmt: HashListFormat) -> None:
        self._claim("hashlist_format", fmt.name, (type(fmt).__doc__ or "").strip().split("\n")[0])
        self.hashlist_formats[fmt.name] = fmt

    def add_exchange(self, exchange: Exchange) -> None:
        """A hash-sharing exchange (typed loosely: anything with a ``name``)."""
        self._claim("exchange", exchange.name, str(getattr(exchange, "description", "") or
                                                 (type(exchange).__doc__ or "").strip().split("\n")[0]))
        self.exchanges[exchange.name] = exchange

    def add_action(self, action: ActionExecutor) -> None:
        """An action the rules may name in ``then:`` (its executor runs when a rule chooses it)."""
        self._claim("action", action.name, action.description)
        self.action_types[action.name] = action

    def add_event_type(self, name: str, description: str) -> None:
        """A webhook event type: subscribable, listed by ``GET /v1/webhooks/event-types``, delivered."""
        self._claim("webhook_event", name, description)
        self.event_types[name] = description

    def add_connector(self, connector: Connector) -> None:
        self._claim("connector", connector.name, connector.description)
        self.connectors[connector.name] = connector

    # --- asking -------------------------------------------------------------------------------
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

    def exchange(self, name: str) -> Exchange:
        try:
            return self.exchanges[name]
        except KeyError:
            known = ", ".join(sorted(self.exchanges)) or "none"
            raise InvalidInput(f"unknown exchange {name!r}; known: {known}", code="unknown_exchange") from None

    def check_content_type(self, content_type: str) -> None:
        """A 422 naming the accepted content types unless ``content_type`` is registered."""
        if content_type not in self.content_types:
            raise InvalidInput(f"content_type: must be one of {', '.join(self.content_types)}",
                               code="invalid_content_type")

    def listing(self) -> list[dict[str, str]]:
        """Everything loaded, for ``seawall plugins`` and ``GET /v1/plugins``."""
        return [r.to_dict() for r in self.registrations.values()]

    def plugins(self) -> dict[str, str]:
        """Loaded plugin → package."""
        out: dict[str, str] = {}
        for r in self.registrations.values():
            out.setdefault(r.plugin, r.package)
        return out


def configured_hooks(spec: str) -> list[Callable[[Registry], None]]:
    """Resolve ``module:function[,module:function…]`` (``SEAWALL_PLUGINS``) into registration hooks.

    Entry points need an installed package; this lets a deployment (or a test run) add a plugin that
    is only importable, e.g. a module on ``PYTHONPATH``. An operator asked for it by name, so a hook
    that cannot be loaded is an error, not a warning.
    """
    return [hook for _, hook in _configured(spec)]


def _configured(spec: str) -> list[tuple[str, Hook]]:
    hooks: list[tuple[str, Hook]] = []
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
        hooks.append((part, hook))
    return hooks


def _package(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f"{dist.name} {dist.version}" if dist is not None else ""


def plugin_entry_points() -> list[EntryPoint]:
    """Installed ``seawall.plugins`` entry points, Seawall's built-ins first, each distinct hook once."""
    eps = list(entry_points(group=ENTRY_POINT_GROUP))
    seen: set[str] = set()
    unique: list[EntryPoint] = []
    for ep in sorted(eps, key=lambda e: (e.value != BUILTIN_ENTRY_POINT, e.name)):
        if ep.value in seen:  # the same distribution found twice on the path (e.g. a source checkout)
            continue
        seen.add(ep.value)
        unique.append(ep)
    return unique


def load_registry(spec: str = "", *, degraded: bool = False,
                  eps: list[EntryPoint] | None = None) -> Registry:
    """A registry filled by every ``seawall.plugins`` entry point, then the ``SEAWALL_PLUGINS`` hooks.

    Built-ins come through their entry point like any plugin; a source tree that is not installed (no
    entry-point metadata) loads ``seawall.builtin:register`` the same way under the same name.
    """
    reg = Registry()
    eps = plugin_entry_points() if eps is None else eps
    if not any(ep.value == BUILTIN_ENTRY_POINT for ep in eps):
        eps = [EntryPoint("builtin", BUILTIN_ENTRY_POINT, ENTRY_POINT_GROUP), *eps]
    for ep in eps:
        is_builtin = ep.value == BUILTIN_ENTRY_POINT
        package = _package(ep) or ("seawall" if is_builtin else "")
        try:
            hook: Hook = ep.load()
        except Exception as exc:
            if is_builtin:
                raise
            reg.load(ep.name, _raise(exc), package=package, degraded=degraded)
            continue
        # Seawall without its built-ins is not Seawall: they never load degraded.
        reg.load(ep.name, hook, package=package, degraded=degraded and not is_builtin)
    if spec:
        try:
            configured = _configured(spec)
        except PluginError as exc:
            if not degraded:
                raise
            reg.failures.append(PluginFailure("SEAWALL_PLUGINS", "", exc.message))
            configured = []
        for name, hook in configured:
            reg.load(name, hook, degraded=degraded)
    return reg


def _raise(exc: Exception) -> Hook:
    def hook(_: Registry) -> None:
        raise exc

    return hook


_registry: Registry | None = None


def registry() -> Registry:
    """The process-wide registry, filled from every installed ``seawall.plugins`` entry point and the
    ``SEAWALL_PLUGINS`` hooks; a plugin that fails stops start-up here (see the module docstring)."""
    global _registry
    if _registry is None:
        from seawall.config import Settings

        settings = Settings()
        _registry = load_registry(settings.plugins, degraded=settings.plugins_degraded)
    return _registry
