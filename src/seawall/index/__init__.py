"""Generic in-memory match indexes: the interface, exact digests, links, snapshots and the manager.

An index that reads one signal's own encoding lives in that signal's package (``seawall.signals.pdq``,
``seawall.signals.tlsh``, ``seawall.signals.vpdq``, ``seawall.signals.text_minhash``).
"""

from seawall.index.snapshot import SnapshotError

__all__ = ["SnapshotError"]
