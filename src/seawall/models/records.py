"""Plain dataclasses for the core records; storage and transport convert to and from these."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

BankKind = Literal["block", "allow"]
VerdictName = Literal["allow", "block", "review", "label"]

BANK_KINDS: tuple[str, ...] = ("block", "allow")
#: What a match in a block bank proposes; ``allow`` banks always propose ``allow``.
ACTIONS: tuple[str, ...] = ("block", "review", "label")
VERDICTS: tuple[str, ...] = ("allow", "block", "review", "label")
CONTENT_TYPES: tuple[str, ...] = ("image", "file", "text", "video")

#: When several block banks match, the strongest proposal wins.
ACTION_SEVERITY: dict[str, int] = {"allow": 0, "label": 1, "review": 2, "block": 3}


@dataclass(slots=True)
class Bank:
    """A named collection of known material, either to block or to always allow (known false positives)."""

    id: int
    name: str
    description: str = ""
    kind: str = "block"
    default_action: str = "block"
    labels: list[str] = field(default_factory=list)
    thresholds: dict[str, int] = field(default_factory=dict)
    enabled: bool = True
    created_at: datetime | None = None
    updated_at: datetime | None = None
    entry_count: int | None = None

    def threshold_for(self, signal_type: str, default: int) -> int:
        """Per-bank override of the signal type's default distance threshold."""
        return int(self.thresholds.get(signal_type, default))


@dataclass(slots=True)
class BankEntry:
    id: int
    bank_id: int
    signal_type: str
    value: str
    labels: list[str] = field(default_factory=list)
    source: str = ""
    first_seen: datetime | None = None
    added_by: str = ""
    note: str = ""
    created_at: datetime | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "signal_type": self.signal_type,
            "value": self.value,
            "labels": self.labels,
            "source": self.source,
            "first_seen": self.first_seen.isoformat() if self.first_seen else None,
            "added_by": self.added_by,
            "note": self.note,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "meta": self.meta,
        }


@dataclass(slots=True)
class ComputedSignal:
    """A signal computed from content. ``variants`` are extra query forms (PDQ's eight rotations/flips)."""

    type: str
    value: str
    quality: int | None = None
    variants: list[str] = field(default_factory=list)
    #: What ``value`` and each variant are, in order (``without uniform border``, ``rotated +5°``…), for
    #: query forms other than PDQ's eight rotations/flips; empty means those (or just ``original``).
    names: list[str] = field(default_factory=list)
    #: Used for matching only, never kept with the item nor shown (the ORB query: large, and meaningless to a
    #: reader).
    transient: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "value": self.value}
        if self.quality is not None:
            out["quality"] = self.quality
        return out

    def stored_dict(self) -> dict[str, Any]:
        """What an item keeps: the variants too, so an entry banked later can be matched against this
        item in any of its rotations/flips (retro-matching) without the pixels."""
        out = self.to_dict()
        if self.variants:
            out["variants"] = list(self.variants)
        if self.names:
            out["names"] = list(self.names)
        return out


@dataclass(slots=True)
class Match:
    bank_id: int
    bank_name: str
    bank_kind: str
    entry_id: int
    signal_type: str
    distance: int
    labels: list[str]
    action: str
    variant: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "bank": self.bank_name,
            "bank_kind": self.bank_kind,
            "entry_id": self.entry_id,
            "signal_type": self.signal_type,
            "distance": self.distance,
            "labels": self.labels,
            "action": self.action,
        }
        if self.variant:
            out["variant"] = self.variant
        return out


@dataclass(slots=True)
class Action:
    """Something to do about an item (``block``, ``label``, ``strike``…), and the rule that asked for it."""

    type: str
    params: dict[str, Any] = field(default_factory=dict)
    rule: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **self.params, "rule": self.rule}


@dataclass(slots=True)
class Verdict:
    """The decision for one item and every reason that led to it, kept so it can be explained later."""

    verdict: str
    matches: list[Match] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    #: What the rules decided to do, in the order the actions are carried out.
    actions: list[Action] = field(default_factory=list)
    #: How the rules reached it (rule set version, rules fired, facts seen); stored with the decision.
    explanation: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "matches": [m.to_dict() for m in self.matches],
            "reasons": self.reasons,
            "actions": [a.to_dict() for a in self.actions],
        }


@dataclass(slots=True)
class Item:
    """A platform's upload as Seawall saw it."""

    id: str
    content_id: str
    account_id: str | None
    content_type: str
    received_at: datetime
    signals: list[ComputedSignal]
    verdict: Verdict
    size_bytes: int | None = None
    submitted_by: str | None = None
    #: ``complete``, ``pending`` (processed in the background) or ``failed`` (see ``error``).
    status: str = "complete"
    error: dict[str, Any] | None = None
    #: ``{"code": "ar", "confidence": 0.97}`` of the text (or text read from the image); None when too little text.
    language: dict[str, Any] | None = None
    #: Views or followers the platform reported with the upload (None when it sent none).
    reach: int | None = None
    #: Stage-2 tasks (``ocr``…) still to run; while any is, the verdict may still change (``final`` false).
    pending: list[str] = field(default_factory=list)

    @property
    def final(self) -> bool:
        """Whether the verdict can no longer change through the upload's own processing."""
        return self.status != "pending" and not self.pending

    def to_dict(self) -> dict[str, Any]:
        out = {
            "id": self.id,
            "status": self.status,
            "content_id": self.content_id,
            "account_id": self.account_id,
            "content_type": self.content_type,
            "received_at": self.received_at.isoformat(),
            "size_bytes": self.size_bytes,
            "signals": [s.to_dict() for s in self.signals if not s.transient],
            **self.verdict.to_dict(),
            "language": self.language,
            "reach": self.reach,
            "final": self.final,
            "pending": ["signals"] if self.status == "pending" else list(self.pending),
        }
        if self.status != "complete":
            out["verdict"] = None
        if self.error is not None:
            out["error"] = self.error
        return out
