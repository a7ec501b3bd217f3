"""In-memory match indexes: exact digests and PDQ Hamming-radius search."""

from seawall.index.snapshot import SnapshotError

__all__ = ["SnapshotError"]
