"""De-obfuscation of text and links, shared by every text and URL signal.

Several signals are computed from one upload; the cached helpers here let them share one pass of
normalisation and link extraction instead of repeating it per signal.
"""

from __future__ import annotations

from functools import lru_cache

from seawall.normalize.text import normalize_text
from seawall.normalize.urls import CanonicalUrl, canonicalize_url, extract_urls, refang

__all__ = ["CanonicalUrl", "canonicalize_url", "extract_urls", "links_in", "matching_text", "normalize_text",
           "refang", "refanged"]


@lru_cache(maxsize=64)
def matching_text(text: str) -> str:
    """:func:`normalize_text`, remembered for the few most recent texts (one upload feeds several signals)."""
    return normalize_text(text)


@lru_cache(maxsize=64)
def links_in(text: str) -> tuple[CanonicalUrl, ...]:
    """:func:`extract_urls`, remembered for the few most recent texts."""
    return tuple(extract_urls(text))


@lru_cache(maxsize=64)
def refanged(text: str) -> str:
    """:func:`refang`, remembered for the few most recent texts (``url_md5`` reads the links as written)."""
    return refang(text)
