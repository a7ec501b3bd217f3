"""Exact indexes for links: URLs by scheme-less key, URL path prefixes, and domains with their subdomains.

All three are dictionary look-ups (an :class:`~seawall.index.exact.ExactIndex` underneath); what
differs is which keys one query value expands to. A URL query looks up its own key; a URL-prefix
query looks up every ``/``-bounded prefix of its path; a host looks up itself and every parent domain,
so a bank entry for ``example.com`` matches ``a.b.example.com``. Each query value costs as many look-ups
as it has path segments or labels, independent of the bank size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from seawall.errors import InvalidInput
from seawall.index.base import Candidate
from seawall.index.exact import ExactIndex
from seawall.normalize.urls import canonicalize_url


def url_key(value: str) -> list[str]:
    """The same page over http and https is one key: the canonical URL without its scheme."""
    return [canonicalize_url(value).key]


def url_prefix_keys(value: str) -> list[str]:
    """Every path prefix of a URL at ``/`` boundaries, from ``host/`` to the full path (query ignored)."""
    return canonicalize_url(value).path_prefixes()


def url_prefix_key(value: str) -> list[str]:
    return [canonicalize_url(value).path_prefixes()[-1]]


def host_keys(value: str) -> list[str]:
    """A host and all its parent domains that still contain a dot (``a.b.c.com`` → … ``c.com``)."""
    if ":" in value or value.replace(".", "").isdigit():
        return [value]  # IP addresses have no parents
    labels = value.split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)] or [value]


def host_key(value: str) -> list[str]:
    return [value]


class ExpandingIndex:
    """Entries stored under one key each; a query value expands to the keys it should meet."""

    def __init__(self, store_key: Callable[[str], list[str]], query_keys: Callable[[str], list[str]]) -> None:
        self._exact = ExactIndex()
        self._store_key = store_key
        self._query_keys = query_keys

    def __len__(self) -> int:
        return len(self._exact)

    def memory_bytes(self) -> int:
        return self._exact.memory_bytes()

    def _keys(self, fn: Callable[[str], list[str]], value: str) -> list[str]:
        try:
            return fn(value)
        except InvalidInput:
            return []

    def add(self, rows: Sequence[tuple[int, str]]) -> None:
        for entry_id, value in rows:
            for key in self._keys(self._store_key, value):
                self._exact.add_one(int(entry_id), key)

    def remove(self, rows: Sequence[tuple[int, str]]) -> None:
        for entry_id, value in rows:
            for key in self._keys(self._store_key, value):
                self._exact.remove_one(int(entry_id), key)

    def search(self, values: Sequence[str], radius: int = 0) -> list[Candidate]:
        out: list[Candidate] = []
        for qi, value in enumerate(values):
            seen: set[int] = set()
            for key in self._keys(self._query_keys, value):
                for eid in self._exact.get(key):
                    if eid not in seen:
                        seen.add(eid)
                        out.append(Candidate(qi, eid, 0))
        return out


def url_index() -> ExpandingIndex:
    return ExpandingIndex(url_key, url_key)


def url_prefix_index() -> ExpandingIndex:
    return ExpandingIndex(url_prefix_key, url_prefix_keys)


def domain_index() -> ExpandingIndex:
    return ExpandingIndex(host_key, host_keys)
