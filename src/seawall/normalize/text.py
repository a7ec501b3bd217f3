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
def _confusables() -> tuple[dict[str, str], dict[int, str], dict[str, dict[str, str]]]:
    conf = tables()["confusables"]
    to_latin = {k: v for k, v in conf["to_latin"].items() if not k.startswith("_")}
    lookalikes = {ord(k): v for k, v in conf["latin_lookalikes"].items() if not k.startswith("_")}
    from_latin = {script: dict(table) for script, table in conf["from_latin"].items() if not script.startswith("_")}
    return to_latin, lookalikes, from_latin


_WORD = re.compile(r"[^\W\d_]+")


def _word_script(word: str, to_latin: dict[str, str]) -> str | None:
    """The script a word is written in: that of its letters with no Latin twin (л, д, я; λ, π; any
    Arabic letter), or Latin for a word of Latin letters only; None when it mixes Latin with look-alikes
    or is made only of look-alikes (its neighbours decide), ``MIXED`` for two real scripts."""
    found: set[str] = set()
    latin = False
    for ch in word:
        if ch in to_latin:
            continue
        script = script_of(ch)
        if script == "LATIN":
            latin = True
        elif script:
            found.add(script)
    if found:
        return found.pop() if len(found) == 1 else "MIXED"
    if latin and all(script_of(ch) == "LATIN" for ch in word):
        # a word spelt only with letters Cyrillic and Greek have exact twins of may be a Russian word typed
        # wholly in Latin look-alikes ("copok"): its neighbours decide
        return None if all(ch in _LATIN_TWINS for ch in word) else "LATIN"
    return None


#: Latin letters that a Cyrillic or Greek letter reproduces exactly in common fonts.
_LATIN_TWINS = frozenset("aceopxyijskABCEHIJKMOPSTXY")


def map_confusables(text: str) -> str:
    """Look-alike letters of another script inside a word become the letters of the word's own script.

    Each word is judged on its own letters: a word with a letter that has no twin elsewhere (л, д, я in
    Russian; n in English) is of that script, and its look-alikes from other scripts are mapped into it
    (Cyrillic о and с in an English word become Latin, Latin o and p in a Russian word become Cyrillic, a
    Latin l in an Arabic word becomes alef). A word made only of letters that exist in both scripts takes
    the script of the nearest judged words around it, so a Russian text with a Latin hashtag keeps its
    Russian words, and a whole Greek-capitals word in an English sentence becomes Latin. A mixed word with
    no judged neighbour is read as Latin, a word of one script alone is left as it is. Latin small capitals
    and similar letters that NFKC leaves alone are mapped everywhere.
    """
    if text.isascii():
        return text
    to_latin, lookalikes, from_latin = _confusables()
    text = text.translate(lookalikes)
    words = list(_WORD.finditer(text))
    if not words:
        return text
    scripts = [_word_script(m.group(0), to_latin) for m in words]
    out: list[str] = []
    last = 0
    for i, m in enumerate(words):
        word = m.group(0)
        own = {script_of(ch) for ch in word}
        target = scripts[i]
        if target is None:
            target = _neighbour_script(scripts, i)
            if target is None:
                if "LATIN" not in own:
                    continue  # one script and nothing around it: leave it
                target = "LATIN"
        if target == "MIXED" or (len(own) == 1 and target in own):
            continue
        if target == "LATIN":
            mapped = "".join(to_latin.get(ch, ch) for ch in word)
        elif target in from_latin:
            table = from_latin[target]
            mapped = "".join(table.get(ch, ch) if script_of(ch) == "LATIN" else ch for ch in word)
        else:
            continue
        out.append(text[last:m.start()])
        out.append(mapped)
        last = m.end()
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


def _neighbour_script(scripts: list[str | None], i: int) -> str | None:
    """The script of the nearest judged word before ``i``, else after it."""
    for j in range(i - 1, -1, -1):
        if scripts[j] is not None and scripts[j] != "MIXED":
            return scripts[j]
    for j in range(i + 1, len(scripts)):
        if scripts[j] is not None and scripts[j] != "MIXED":
            return scripts[j]
    return None


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
def _leet() -> tuple[dict[str, str], dict[int, str], dict[str, dict[str, str]]]:
    leet = tables()["leet"]
    by_script = {k: dict(v) for k, v in leet["by_script"].items() if not k.startswith("_")}
    return dict(leet["map"]), {ord(k): v for k, v in leet["fold"].items()}, by_script


def undo_leet(text: str) -> str:
    """Digits and symbols used as letters (h4t3, $tr1ke; пр0паганда, ال1سلام) become the letters, but
    only in words whose letters are all of one script with a table (Latin, Cyrillic, Greek, Arabic) and
    that hold nothing else but letters and that script's leet characters, so numbers stay numbers.
    Then ``l`` is folded into ``i``: ``1`` stands for both, and capital I looks like small l."""
    latin_map, fold, by_script = _leet()

    def fix(m: re.Match[str]) -> str:
        tok = m.group(0)
        scripts = {script_of(ch) for ch in tok if ch.isalpha()}
        if len(scripts) != 1:
            return tok
        script = scripts.pop()
        mapping = latin_map if script == "LATIN" else by_script.get(script)
        if mapping is None:
            return tok
        needs = False
        letters = 0
        for ch in tok:
            if ch in mapping:
                needs = True
            elif ch.isalpha():
                letters += 1
            else:
                return tok
        if not needs or (script != "LATIN" and letters < 1):
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
