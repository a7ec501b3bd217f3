"""Folding user names so that the disguises people use when they come back compare equal.

A suspended account that returns rarely picks a brand-new name: it writes the old one with look-alike
letters (Cyrillic ``а`` for ``a``), leet digits (``4bu``), different separators (``abu.khalid`` for
``abu_khalid``) or a number at the end. :func:`skeleton` undoes all of these at once, more
aggressively than :func:`seawall.normalize.text.normalize_text` does for running text, because a
name has no numbers or punctuation that carry meaning.
"""

from __future__ import annotations

import re
from functools import cache

from seawall.normalize.text import casefold, fold_diacritics, nfkc, strip_invisible, tables

#: A number at the end of a name (``_99``, ``1987``): the cheapest way to get a taken name again.
_TRAILING_DIGITS = re.compile(r"[\W_]*\d+[\W_]*$")
_REPEATS = re.compile(r"(.)\1+")


@cache
def _fold_table() -> dict[int, str]:
    """Every look-alike letter to its Latin twin, unconditionally: in a name there is no running text
    whose script could tell a real Cyrillic word from a disguised Latin one."""
    conf = tables()["confusables"]
    table = {ord(k): v for k, v in conf["to_latin"].items() if not k.startswith("_") and len(k) == 1}
    table.update({ord(k): v for k, v in conf["latin_lookalikes"].items() if not k.startswith("_") and len(k) == 1})
    return table


@cache
def _leet_table() -> dict[int, str]:
    leet = tables()["leet"]
    table = {ord(k): v for k, v in leet["map"].items()}
    table.update({ord(k): v for k, v in leet["fold"].items()})
    return table


def fold(name: str) -> str:
    """NFKC, invisible characters dropped, casefolded, accents and look-alike letters folded to Latin."""
    return fold_diacritics(casefold(strip_invisible(nfkc(name)))).translate(_fold_table())


def plain(name: str) -> str:
    """The folded name with every separator and symbol removed (digits kept)."""
    return "".join(ch for ch in fold(name) if ch.isalnum())


def skeleton(name: str) -> str:
    """The folded name without a trailing number, leet undone, letters only, runs of a letter collapsed.

    ``4bu_Kh4lid_99``, ``abu.khalid`` and ``аbu_khalid`` (Cyrillic ``а``) all become ``abukhaid``
    (``l`` is folded into ``i`` as in the text normaliser, since ``1`` stands for both).
    """
    folded = _TRAILING_DIGITS.sub("", fold(name)) or fold(name)
    letters = "".join(ch for ch in folded.translate(_leet_table()) if ch.isalpha())
    return _REPEATS.sub(r"\1", letters)


def name_keys(username: str, display_name: str) -> list[str]:
    """The distinct non-empty skeletons of an account's names, the form names are indexed and compared in."""
    keys: list[str] = []
    for value in (username, display_name):
        key = skeleton(value)
        if key and key not in keys:
            keys.append(key)
    return keys


def trigrams(key: str) -> set[str]:
    """Padded character trigrams, the unit the candidate index of suspended names is keyed by."""
    padded = f"  {key} "
    return {padded[i:i + 3] for i in range(len(padded) - 2)}
