"""The facts a rule may look at, and nothing else.

Rules see a flat, serialisable picture of an item (its matches, scores, account history, language,
crisis mode) rather than store rows, so the same rules can be dry-run against a stored item or a
made-up example, and the exact facts behind a decision can be kept with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from seawall.models.records import Match


@dataclass(slots=True)
class MatchFact:
    bank: str
    bank_kind: str
    bank_action: str
    labels: list[str]
    distance: int
    signal_type: str
    entry_id: int | None = None
    #: Sources (exchanges, partners) that reported the entry, and how many (provenance).
    sources: list[str] = field(default_factory=list)
    source_count: int = 0


@dataclass(slots=True)
class AccountFact:
    id: str
    strikes: int = 0
    suspended: bool = False
    #: False when no rule looks at account history, so strikes and suspension were not read.
    looked_up: bool = True


@dataclass(slots=True)
class Facts:
    matches: list[MatchFact] = field(default_factory=list)
    #: Classifier scores by name (0..1); empty until a classifier has scored the item.
    scores: dict[str, float] = field(default_factory=dict)
    account: AccountFact | None = None
    language: str | None = None
    crisis_mode: bool = False
    content_type: str | None = None
    #: Decided after the upload was accepted (background processing): it can be removed, not blocked.
    deferred: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The facts as plain JSON values, exactly what ``dataclasses.asdict`` gives, written out: it runs for
        every decision (the facts are stored with it) and ``asdict``'s generic deep copy cost more than the
        rules took to evaluate."""
        a = self.account
        return {
            "matches": [{"bank": m.bank, "bank_kind": m.bank_kind, "bank_action": m.bank_action,
                         "labels": list(m.labels), "distance": m.distance, "signal_type": m.signal_type,
                         "entry_id": m.entry_id, "sources": list(m.sources), "source_count": m.source_count}
                        for m in self.matches],
            "scores": dict(self.scores),
            "account": None if a is None else {"id": a.id, "strikes": a.strikes, "suspended": a.suspended,
                                               "looked_up": a.looked_up},
            "language": self.language,
            "crisis_mode": self.crisis_mode,
            "content_type": self.content_type,
            "deferred": self.deferred,
        }


def match_facts(matches: list[Match]) -> list[MatchFact]:
    return [
        MatchFact(bank=m.bank_name, bank_kind=m.bank_kind, bank_action=m.action, labels=list(m.labels),
                  distance=m.distance, signal_type=m.signal_type, entry_id=m.entry_id)
        for m in matches
    ]


class MatchFactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bank: str = Field(min_length=1, max_length=100)
    bank_kind: Literal["block", "allow"] = "block"
    bank_action: Literal["block", "review", "label", "allow"] = "block"
    labels: list[str] = Field(default_factory=list, max_length=100)
    distance: int = Field(default=0, ge=0, le=256)
    signal_type: str = Field(default="md5", min_length=1, max_length=32)
    entry_id: int | None = None
    sources: list[str] = Field(default_factory=list, max_length=100)
    source_count: int = Field(default=0, ge=0)


class AccountFactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(default="synthetic", min_length=1, max_length=300)
    strikes: int = Field(default=0, ge=0)
    suspended: bool = False


class FactsIn(BaseModel):
    """A made-up item for a dry run: what would the rules do with these facts?"""

    model_config = ConfigDict(extra="forbid")
    matches: list[MatchFactIn] = Field(default_factory=list, max_length=1000)
    scores: dict[str, float] = Field(default_factory=dict)
    account: AccountFactIn | None = None
    language: str | None = Field(default=None, max_length=35)
    crisis_mode: bool = False
    content_type: Literal["image", "file", "text", "video"] | None = None
    deferred: bool = False

    def to_facts(self) -> Facts:
        return Facts(
            matches=[MatchFact(**m.model_dump()) for m in self.matches],
            scores=dict(self.scores),
            account=AccountFact(**self.account.model_dump()) if self.account else None,
            language=self.language,
            crisis_mode=self.crisis_mode,
            content_type=self.content_type,
            deferred=self.deferred,
        )
