"""Small plugins for the registry tests: one that clashes with a built-in, one that breaks half-way."""

from __future__ import annotations

from seawall.plugins import Registry
from seawall.signals.md5 import Md5Signal


class SecondMd5(Md5Signal):
    """A plugin's own md5, clashing with Seawall's."""


def duplicate_md5(reg: Registry) -> None:
    reg.add_signal_type(SecondMd5())


def broken(reg: Registry) -> None:
    """Registers an event type, then fails: the event type must not stay behind."""
    reg.add_event_type("fixture.half_registered", "left behind if a failed plugin is not undone")
    raise RuntimeError("the fixture plugin's model file is missing")
