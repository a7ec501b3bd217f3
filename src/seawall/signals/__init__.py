"""Signal types: one file each, all implementing :class:`seawall.signals.base.SignalType`."""
