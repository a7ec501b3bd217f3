"""Trend query (``trend_query``): keyword and regex queries shared in python-threatexchange lists.

A trend query is JSON: ``{"and": [{"or": [term, …]}, …], "not": [term, …]}``. A text matches when, for
every ``and`` group, one of its ``or`` terms occurs, and no ``not`` term occurs. A term is a word or
phrase, found between word boundaries and, unlike pytx, regardless of case (a query written for
``Caravan`` also finds ``caravan``: more found, never less); or a regular expression written
``regex-/pattern/`` (pytx's spelling: the prefix, then the pattern between one delimiter character on
each side), applied as written.

Queries have high recall and low precision by design: route banks of them to review, not to blocking.
Regexes come from partners' lists, so they are bounded: at most ``MAX_TERMS`` terms of ``MAX_TERM``
characters, nested repetition refused (the classic catastrophic-backtracking shape), and only the first
``MAX_TEXT`` characters of a post are searched.

Value: the query as compact JSON with sorted keys (two spellings of one query are one entry). The query
side's value is the post's text itself; the index evaluates every stored query on it.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from seawall.errors import InvalidInput
from seawall.index.base import Candidate, SignalIndex
from seawall.media.content import Content
from seawall.models.records import ComputedSignal
from seawall.signals.base import SignalType

REGEX_PREFIX = "regex-"
MAX_TERMS = 200
MAX_TERM = 200
MAX_TEXT = 20_000
#: A group repeated by ``*``, ``+`` or ``{n,}`` that itself ends in such a repetition: ``(a+)+``.
_NESTED_REPEAT = re.compile(r"[*+}]\)[*+{]")


def _bad(message: str) -> InvalidInput:
    return InvalidInput(f"trend_query: {message}", code="invalid_signal_value")


def _compile_term(term: Any) -> re.Pattern[str]:
    if not isinstance(term, str) or not term.strip():
        raise _bad("every term must be a non-empty string")
    if len(term) > MAX_TERM:
        raise _bad(f"a term is longer than {MAX_TERM} characters")
    if term.startswith(REGEX_PREFIX):
        body = term[len(REGEX_PREFIX):]
        if len(body) < 3:
            raise _bad(f"a regex term is written {REGEX_PREFIX}/pattern/")
        pattern = body[1:-1]
        if _NESTED_REPEAT.search(pattern):
            raise _bad(f"regex {pattern!r} nests repetitions, which can take exponential time")
        try:
            return re.compile(pattern)
        except re.error as exc:
            raise _bad(f"regex {pattern!r} does not compile: {exc}") from None
    return re.compile(rf"(?<!\w){re.escape(term)}(?!\w)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class TrendQuery:
    """A parsed query: every ``and`` group needs one hit, no ``not`` term may hit."""

    all_of: tuple[tuple[re.Pattern[str], ...], ...]
    none_of: tuple[re.Pattern[str], ...]

    @classmethod
    def parse(cls, value: str) -> tuple[TrendQuery, str]:
        """The query and its canonical JSON, or InvalidInput naming what is wrong."""
        try:
            doc = json.loads(value)
        except (TypeError, ValueError):
            raise _bad('must be JSON such as {"and": [{"or": ["word"]}], "not": []}') from None
        if not isinstance(doc, dict) or not isinstance(doc.get("and"), list) or not doc["and"]:
            raise _bad('needs a non-empty "and" list of {"or": [terms]} groups')
        groups = doc["and"]
        if not all(isinstance(g, dict) and isinstance(g.get("or"), list) and g["or"] for g in groups):
            raise _bad('every "and" group must be {"or": [one or more terms]}')
        nots = doc.get("not", [])
        if not isinstance(nots, list):
            raise _bad('"not" must be a list of terms')
        if set(doc) - {"and", "not"} or any(set(g) != {"or"} for g in groups):
            raise _bad('only "and", "or" and "not" keys are allowed')
        if sum(len(g["or"]) for g in groups) + len(nots) > MAX_TERMS:
            raise _bad(f"more than {MAX_TERMS} terms")
        query = cls(tuple(tuple(_compile_term(t) for t in g["or"]) for g in groups),
                    tuple(_compile_term(t) for t in nots))
        canonical = json.dumps({"and": [{"or": list(g["or"])} for g in groups], "not": list(nots)},
                               ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        return query, canonical

    def matches(self, text: str) -> bool:
        text = text[:MAX_TEXT]
        return (all(any(p.search(text) for p in group) for group in self.all_of)
                and not any(p.search(text) for p in self.none_of))


class TrendQuerySignal(SignalType):
    name = "trend_query"
    content_types = ("text", "image")

    def normalize(self, value: str) -> str:
        return TrendQuery.parse(value if isinstance(value, str) else "")[1]

    def compute(self, content: Content, *, for_query: bool = False) -> list[ComputedSignal]:
        if not for_query:
            return []  # queries are banked as written; a text is not a query
        text = content.signal_text(for_query=True)
        # the post's own text: used for matching only, never kept as a signal (an image's OCR text is not stored)
        return [ComputedSignal(type=self.name, value=text[:MAX_TEXT], transient=True)] if text and text.strip() else []

    def distance(self, a: str, b: str) -> int:
        """0 when one side is a query the other (a text, or the same query) satisfies or equals."""
        if a == b:
            return 0
        for query, text in ((a, b), (b, a)):
            try:
                if TrendQuery.parse(query)[0].matches(text):
                    return 0
            except InvalidInput:
                continue
        return 1

    def create_index(self) -> SignalIndex:
        return TrendQueryIndex()


class TrendQueryIndex:
    """Every stored query, evaluated on each searched text: lists of queries are short (hundreds)."""

    def __init__(self) -> None:
        self._queries: dict[int, TrendQuery] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._queries)

    def add(self, rows: Sequence[tuple[int, str]]) -> None:
        parsed = []
        for entry_id, value in rows:
            try:
                parsed.append((entry_id, TrendQuery.parse(value)[0]))
            except InvalidInput:
                continue  # stored values were normalised on the way in; never fail a load on one
        with self._lock:
            for entry_id, query in parsed:
                self._queries.setdefault(entry_id, query)

    def remove(self, rows: Sequence[tuple[int, str]]) -> None:
        with self._lock:
            for entry_id, _ in rows:
                self._queries.pop(entry_id, None)

    def search(self, values: Sequence[str], radius: int = 0) -> list[Candidate]:
        with self._lock:
            queries = list(self._queries.items())
        return [Candidate(qi, eid, 0) for qi, text in enumerate(values) for eid, q in queries if q.matches(text)]

    def memory_bytes(self) -> int:
        return sum(2_000 + 500 * (sum(len(g) for g in q.all_of) + len(q.none_of)) for q in self._queries.values())
