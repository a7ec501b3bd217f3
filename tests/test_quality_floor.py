"""Each signal type sets its own quality floor: a value below it is neither matched nor banked.

A plugin whose values carry a quality (here a text digest that rates short texts as weak) declares the
floor through ``SignalType.min_quality_from``; the PDQ setting must not leak into it, and its floor must
hold on both the upload path and the banking path.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import pytest

from seawall.banks.service import EntryInput
from seawall.builtin import register
from seawall.composition import build_engine
from seawall.config import Settings
from seawall.engine import Engine
from seawall.media.content import Content
from seawall.models.records import ComputedSignal
from seawall.plugins import Registry
from seawall.signals.digest import DigestSignal


class RatedTextDigest(DigestSignal):
    """SHA-1 of a text, rated 10 points per word: a two-word text says too little to act on."""

    name = "rated_text_sha1"
    algorithm = "sha1"
    hex_length = 40
    content_types: ClassVar[tuple[str, ...]] = ("text",)

    def compute(self, content: Content, *, for_query: bool = False) -> list[ComputedSignal]:
        text = content.text or ""
        signals = super().compute(Content(content_type="text", data=text.encode()), for_query=for_query)
        return [ComputedSignal(s.type, s.value, quality=min(100, 10 * len(text.split()))) for s in signals]

    def min_quality_from(self, settings: Settings) -> int:
        return 60


@pytest.fixture
def rated_engine(settings: Settings) -> Iterator[Engine]:
    reg = Registry()
    register(reg)
    reg.add_signal_type(RatedTextDigest())
    # the PDQ floor is set to refuse everything: it must not apply to another signal type
    eng = build_engine(settings.model_copy(update={"pdq_min_quality": 100}), reg=reg)
    eng.banks.create("known", kind="block", default_action="block")
    try:
        yield eng
    finally:
        eng.close()


def _rated(entries: list[tuple[object, bool]]) -> list[object]:
    return [e for e, _ in entries if getattr(e, "signal_type", "") == "rated_text_sha1"]


def test_a_signal_below_its_own_floor_is_refused_for_banks(rated_engine: Engine) -> None:
    added, refused = rated_engine.add_entries_from_content(
        "known", rated_engine.content("text", text="short text"), labels=[], note="", source="t", added_by="t")
    assert not _rated(added)
    assert any(r.startswith("rated_text_sha1 quality 20 is below 60") for r in refused), refused

    long_text = "one two three four five six seven eight nine ten"
    added, refused = rated_engine.add_entries_from_content(
        "known", rated_engine.content("text", text=long_text), labels=[], note="", source="t", added_by="t")
    assert len(_rated(added)) == 1
    assert not any(r.startswith("rated_text_sha1") for r in refused)


def test_a_signal_below_its_own_floor_is_not_matched(rated_engine: Engine) -> None:
    long_text = "one two three four five six seven eight nine ten"
    rated_engine.add_entries_from_content(
        "known", rated_engine.content("text", text=long_text), labels=[], note="", source="t", added_by="t")
    item = rated_engine.submit(rated_engine.content("text", text=long_text), content_id="long")
    assert any(m.signal_type == "rated_text_sha1" for m in item.verdict.matches)

    weak = "short text"
    # banked as a plain entry (a partner's list may carry it), so only the query side's floor stops it
    value = RatedTextDigest().compute(Content(content_type="text", data=b"", text=weak))[0].value
    rated_engine.add_entry("known", EntryInput("rated_text_sha1", value, []), added_by="t")
    item = rated_engine.submit(rated_engine.content("text", text=weak), content_id="weak")
    assert not any(m.signal_type == "rated_text_sha1" for m in item.verdict.matches)
    assert any("rated_text_sha1 quality 20 is below 60" in r for r in item.verdict.reasons), item.verdict.reasons
