"""Text de-obfuscation: the matching form of a text, so look-alike spellings of one text meet.

Publishers re-post known text with look-alike letters, invisible characters, Arabic vowel marks, leet
digits and stretched letters, so that an exact or shingle comparison with the banked original fails.
Every rule here undoes one such trick. Each is a small function over a table in
``seawall/data/text_normalization.json`` and has its own test; :func:`normalize_text` applies them in
order. The result is a matching key, never shown to anyone: it may fold letters a reader would keep
apart (``l`` and ``i``), as long as the bank entry and the query are folded the same way.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from functools import cache, lru_cache
from importlib import resources
from typing import Any

__all__ = ["RULES", "normalize_text", "rule"]


@cache
def tables() -> dict[str, Any]:
    """The rule tables, read once from the package data."""
    raw = resources.files("seawall.data").joinpath("text_normalization.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(raw)
    return data


def _cp(spec: str) -> int:
    """``U+200B`` → 0x200B; tables name invisible characters by code point so they can be read."""
    return int(spec[2:], 16)


def _ranges(specs: list[list[str]]) -> list[int]:
    return [c for first, last in specs for c in range(_cp(first), _cp(last) + 1)]


@lru_cache(maxsize=8192)
def script_of(ch: str) -> str:
    """First word of the Unicode name (``LATIN``, ``CYRILLIC``, ``ARABIC``…), a cheap script property."""
    name = unicodedata.name(ch, "")
    return name.split(" ", 1)[0] if name else ""


# --- NFKC and casefold -------------------------------------------------------------------------


def nfkc(text: str) -> str:
    """Compatibility forms (fullwidth, mathematical alphanumerics, ligatures, Arabic presentation
    forms, circled letters) are the cheapest disguise: NFKC turns them back into plain letters."""
    return unicodedata.normalize("NFKC", text)


def casefold(text: str) -> str:
    """Case carries no meaning for matching; casefold (not lower) also folds ß and final sigma."""
    return text.casefold()


# --- invisible characters ----------------------------------------------------------------------


@cache
def _invisible_table() -> dict[int, None]:
    inv = tables()["invisible"]
    return {c: None for c in [*(_cp(s) for s in inv["remove"]), *_ranges(inv["remove_ranges"])]}


@cache
def _joiners() -> tuple[dict[str, frozenset[str]], frozenset[str]]:
    inv = tables()["invisible"]
    per_joiner = {chr(_cp(k)): frozenset(v) for k, v in inv["joiners"].items()}
    return per_joiner, frozenset(inv["arabic_non_joining_forward"])


def strip_invisible(text: str) -> str:
    """Zero-width and bidi control characters split a word for a matcher but not for a reader.

    ZWNJ and ZWJ are part of the spelling in Persian, Urdu and Indic scripts, so each is kept between
    two letters of a script that uses it (ZWNJ in Arabic script only where it visibly breaks a join),
    and dropped everywhere else; a run of joiners becomes its first.
    """
    text = text.translate(_invisible_table())
    joiners, non_joining = _joiners()
    if not any(j in text for j in joiners):
        return text
    out: list[str] = []
    n = len(text)
    for i, ch in enumerate(text):
        scripts = joiners.get(ch)
        if scripts is None:
            out.append(ch)
            continue
        if not out or out[-1] in joiners:
            continue
        prev = out[-1]
        j = i + 1
        while j < n and text[j] in joiners:
            j += 1
        nxt = text[j] if j < n else ""
        if not (nxt and prev.isalpha() and nxt.isalpha()):
            continue
        script = script_of(prev)
        if script != script_of(nxt) or script not in scripts:
            continue
        if script == "ARABIC" and prev in non_joining:
            continue
        out.append(ch)
    return "".join(out)


# --- diacritics on Latin, Greek and Cyrillic letters -------------------------------------------

_ACCENTED_SCRIPTS = frozenset({"LATIN", "GREEK", "CYRILLIC"})


def fold_diacritics(text: str) -> str:
    """Accents (and stacked "zalgo" marks) on Latin, Greek and Cyrillic letters are dropped.

    Marks are part of the letter in other scripts (Indic vowel signs, Hebrew points), so only marks
    that follow a letter of these three scripts go; Arabic marks have their own rule.
    """
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFD", text)
    out: list[str] = []
    base_script = ""
    for ch in decomposed:
        if unicodedata.category(ch) in ("Mn", "Me"):
            if base_script in _ACCENTED_SCRIPTS:
                continue
        else:
            base_script = script_of(ch) if ch.isalpha() else ""
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


# --- confusable letters ------------------------------------------------------------------------

@cache
def _confusables() -> tuple[dict[str, str], dict[int, str], re.Pattern[str]]:
    conf = tables()["confusables"]
    to_latin = {k: v for k, v in conf["to_latin"].items() if not k.startswith("_")}
    lookalikes = {ord(k): v for k, v in conf["latin_lookalikes"].items() if not k.startswith("_")}
    chars = re.escape("".join(to_latin))
    # a word (letters and marks) that contains at least one look-alike; all other words are skipped. The
    # lookbehind lets a match start only where a word starts: without it a long word with no look-alike is
    # re-scanned from every one of its letters (quadratic time on a megabyte-long "word").
    word = re.compile(rf"(?<![^\W\d_])[^\W\d_]*?[{chars}][^\W\d_]*")
    return to_latin, lookalikes, word


def map_confusables(text: str) -> str:
    """Cyrillic and Greek look-alikes inside Latin words become the Latin letter they imitate.

    A word that mixes Latin with look-alike letters is always mapped. A word made only of look-alikes
    is mapped when the text is mostly Latin: real Russian or Greek text is full of letters that have
    no Latin twin (л, д, я, λ, π…), a disguised English text has none of them. Latin small capitals
    and similar letters that NFKC leaves alone are mapped everywhere.
    """
    if text.isascii():
        return text
    to_latin, lookalikes, word_with_lookalike = _confusables()
    text = text.translate(lookalikes)
    mostly_latin: list[bool] = []  # computed on first need: most texts never have a word of look-alikes only

    def is_mostly_latin() -> bool:
        if not mostly_latin:
            latin = other_foreign = 0
            for ch in text:
                if ch.isalpha():
                    s = script_of(ch)
                    if s == "LATIN":
                        latin += 1
                    elif s in ("CYRILLIC", "GREEK") and ch not in to_latin:
                        other_foreign += 1
            mostly_latin.append(latin > 0 and other_foreign < latin)
        return mostly_latin[0]

    def fix(m: re.Match[str]) -> str:
        word = m.group(0)
        has_latin = False
        for ch in word:
            if ch in to_latin:
                continue
            if script_of(ch) != "LATIN":
                return word  # a genuine foreign letter: this is not a disguised Latin word
            has_latin = True
        if has_latin or is_mostly_latin():
            return "".join(to_latin.get(ch, ch) for ch in word)
        return word

    return word_with_lookalike.sub(fix, text)


# --- Arabic ------------------------------------------------------------------------------------


@cache
def _arabic_table() -> dict[int, str | None]:
    ar = tables()["arabic"]
    table: dict[int, str | None] = {c: None for c in _ranges(ar["remove_ranges"])}
    table.update({ord(k): v for k, v in ar["map"].items()})
    return table


def normalize_arabic(text: str) -> str:
    """Vowel marks (tashkeel) and elongation (tatweel) are optional in Arabic, and alef, yeh, teh
    marbuta, kaf and heh have several spellings across Arabic, Persian and Urdu keyboards: one form
    each. Arabic-Indic and Persian digits become ASCII digits."""
    if text.isascii():
        return text
    return text.translate(_arabic_table())


# --- leet --------------------------------------------------------------------------------------

# only tokens that contain a leet character need a look; the rest of the text is skipped at C speed (a
# match starts only at a token's start, so a long token without one is scanned once, not once per character)
_LEET_TOKEN = re.compile(r"(?<![\w@$])[\w@$]*?[0-9@$][\w@$]*")


@cache
def _leet() -> tuple[dict[str, str], dict[int, str]]:
    leet = tables()["leet"]
    return dict(leet["map"]), {ord(k): v for k, v in leet["fold"].items()}


def undo_leet(text: str) -> str:
    """Digits and symbols used as letters (h4t3, $tr1ke) become the letters, but only in words that
    have a Latin letter and nothing else but letters and leet characters, so numbers stay numbers.
    Then ``l`` is folded into ``i``: ``1`` stands for both, and capital I looks like small l."""
    mapping, fold = _leet()

    def fix(m: re.Match[str]) -> str:
        tok = m.group(0)
        has_latin = False
        needs = False
        for ch in tok:
            if ch in mapping:
                needs = True
            elif ch.isalpha() and script_of(ch) == "LATIN":
                has_latin = True
            else:
                return tok
        if not (has_latin and needs):
            return tok
        return "".join(mapping.get(ch, ch) for ch in tok)

    return _LEET_TOKEN.sub(fix, text).translate(fold)


# --- repeated letters, punctuation, spacing ----------------------------------------------------


@cache
def _repeat_pattern() -> tuple[re.Pattern[str], int]:
    rep = tables()["repeats"]
    extra = int(rep["min_run"]) - 1
    return re.compile(r"([^\W\d_])\1{" + str(extra) + ",}"), int(rep["keep"])


def collapse_repeats(text: str) -> str:
    """Stretched letters (haaaate) lose their extra copies; see the table for why runs keep two."""
    pattern, keep = _repeat_pattern()
    return pattern.sub(lambda m: m.group(1) * keep, text)


class _PunctuationTable(dict[int, int | None]):
    """``str.translate`` table filled on first sight of each character, so the Unicode category of a
    character is looked up once per process instead of once per occurrence."""

    def __missing__(self, cp: int) -> int | None:
        ch = chr(cp)
        value: int | None = 32 if unicodedata.category(ch)[0] in "PSC" and ch not in _KEEP_CF else None
        if value is None:
            value = cp
        self[cp] = value
        return value


_KEEP_CF = frozenset({"\u200c", "\u200d"})
_PUNCT_TABLE = _PunctuationTable()
_ASCII_PUNCT = re.compile(r"[^0-9a-zA-Z\s]+")


def punctuation_to_space(text: str) -> str:
    """Punctuation, symbols and emoji are sprinkled in to break matching and carry no wording."""
    if text.isascii():
        return _ASCII_PUNCT.sub(" ", text)
    return text.translate(_PUNCT_TABLE)


def collapse_whitespace(text: str) -> str:
    """Extra spaces, tabs and line breaks do not change a text."""
    return " ".join(text.split())


#: The rules in the order they run. Order matters: invisible characters go before words are looked
#: at, confusables are mapped before casefolding (upper- and lowercase look-alikes differ), leet is
#: undone before ``@`` and ``$`` are removed as punctuation.
RULES: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("nfkc", nfkc),
    ("invisible", strip_invisible),
    ("diacritics", fold_diacritics),
    ("confusables", map_confusables),
    ("casefold", casefold),
    ("arabic", normalize_arabic),
    ("leet", undo_leet),
    ("repeats", collapse_repeats),
    ("punctuation", punctuation_to_space),
    ("whitespace", collapse_whitespace),
)


def rule(name: str) -> Callable[[str], str]:
    """One rule by name, for tests and for callers that need a partial normal form."""
    return dict(RULES)[name]


def normalize_text(text: str) -> str:
    """The matching form of ``text``: every rule of :data:`RULES` in order."""
    for _, fn in RULES:
        text = fn(text)
    return text
