"""The removal order as the authority sends it (TCO Annex I), and what is wrong with one.

Structurally broken input (wrong types, unknown fields) is refused with 422. An order that parses
but lacks what Art. 3(4) makes mandatory, or contains manifest errors, is still *stored as
received*: the hour may already be running, so Seawall keeps it, flags it and drafts the Annex III
answer (insufficient information / manifest errors) instead of dropping it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

#: Art. 2(7)(a)–(e): the reasons an authority ticks in Section B.
REASONS: dict[str, str] = {
    "incitement": "incites the commission of terrorist offences, incl. by glorification (Art. 2(7)(a))",
    "solicitation_offence": "solicits a person or group to commit or contribute to terrorist offences (Art. 2(7)(b))",
    "solicitation_group": "solicits participation in the activities of a terrorist group (Art. 2(7)(c))",
    "instruction": "provides instruction on weapons, explosives or methods for terrorist offences (Art. 2(7)(d))",
    "threat": "constitutes a threat to commit a terrorist offence (Art. 2(7)(e))",
}
AUTHORITY_TYPES = ("judicial", "law_enforcement", "other")
#: Member States whose authorities may issue orders (alpha-2; Greece is GR as in EU practice).
MEMBER_STATES = frozenset({
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
    "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"})
#: Art. 11(3): non-disclosure for up to six weeks, extendable by six more.
MAX_EMBARGO = timedelta(weeks=12)


class Locator(BaseModel):
    """Extra information to locate the content exactly (Section B): Seawall's item id or the platform's id."""

    model_config = ConfigDict(extra="forbid")
    item_id: str | None = Field(default=None, max_length=32)
    content_id: str | None = Field(default=None, max_length=300)


class Authority(BaseModel):
    """Section E: who issued the order."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["judicial", "law_enforcement", "other"] | None = None
    name: str | None = Field(default=None, max_length=300)
    representative: str | None = Field(default=None, max_length=300)
    post: str | None = Field(default=None, max_length=300)
    file_number: str | None = Field(default=None, max_length=200)
    address: str | None = Field(default=None, max_length=1000)
    phone: str | None = Field(default=None, max_length=100)
    fax: str | None = Field(default=None, max_length=100)
    email: str | None = Field(default=None, max_length=300)
    date: str | None = Field(default=None, max_length=50)
    #: Whether the order carries the electronic signature Art. 3(4) requires (checked by the transport).
    signed: bool = False


class Redress(BaseModel):
    """Section G: where and until when the order can be challenged."""

    model_config = ConfigDict(extra="forbid")
    body: str | None = Field(default=None, max_length=500)
    deadline: str | None = Field(default=None, max_length=200)
    link: str | None = Field(default=None, max_length=1000)


class RemovalOrderIn(BaseModel):
    """Annex I, Sections A–G. The receipt time is not a field: it is taken when the order arrives."""

    model_config = ConfigDict(extra="forbid")
    language: str | None = Field(default=None, max_length=10)
    # Section A
    issuing_state: str | None = Field(default=None, max_length=2)
    addressee: str | None = Field(default=None, max_length=300)
    legal_representative: str | None = Field(default=None, max_length=300)
    contact_point: str | None = Field(default=None, max_length=300)
    establishment_state: str | None = Field(default=None, max_length=2)
    issued_at: datetime | None = None
    reference: str | None = Field(default=None, max_length=200)
    # Section B
    urls: list[str] = Field(default_factory=list, max_length=1000)
    locators: list[Locator] = Field(default_factory=list, max_length=1000)
    location_info: str = Field(default="", max_length=5000)
    reasons: list[Literal["incitement", "solicitation_offence", "solicitation_group", "instruction", "threat"]] = \
        Field(default_factory=list)
    additional_reasons: str = Field(default="", max_length=5000)
    # Section C
    do_not_inform: bool = False
    notify_embargo_until: datetime | None = None
    # Section D
    cross_border: bool = False
    copy_sent_to: str | None = Field(default=None, max_length=300)
    # Sections E–G
    authority: Authority = Field(default_factory=Authority)
    follow_up_contact: str | None = Field(default=None, max_length=500)
    establishment_authority_contact: str | None = Field(default=None, max_length=500)
    redress: Redress = Field(default_factory=Redress)


def missing_fields(order: RemovalOrderIn) -> list[str]:
    """What Art. 3(4) requires and the order lacks: the grounds for an *insufficient information* answer."""
    missing = []
    if not order.issuing_state:
        missing.append("issuing_state")
    if not order.authority.name:
        missing.append("authority.name")
    if not order.reference:
        missing.append("reference")
    if order.issued_at is None:
        missing.append("issued_at")
    if not order.urls and not order.locators:
        missing.append("urls")
    if not order.reasons:
        missing.append("reasons")
    if not order.authority.signed:
        missing.append("authority.signed")
    if not order.redress.body:
        missing.append("redress.body")
    return missing


def manifest_errors(order: RemovalOrderIn, received_at: datetime) -> list[str]:
    """Errors visible on the face of the order: the grounds for a *manifest errors* answer (Art. 3(8))."""
    errors = []
    if order.issuing_state and order.issuing_state.upper() not in MEMBER_STATES:
        errors.append(f"issuing_state: {order.issuing_state!r} is not an EU Member State")
    for url in order.urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            errors.append(f"urls: {url[:200]!r} is not an http(s) URL")
    if order.issued_at is not None:
        issued = order.issued_at if order.issued_at.tzinfo else order.issued_at.replace(tzinfo=received_at.tzinfo)
        if issued > received_at + timedelta(minutes=5):
            errors.append("issued_at: the order is dated after it was received")
        if order.notify_embargo_until is not None:
            until = order.notify_embargo_until
            until = until if until.tzinfo else until.replace(tzinfo=received_at.tzinfo)
            if until > issued + MAX_EMBARGO:
                errors.append("notify_embargo_until: Art. 11(3) allows at most 6 + 6 weeks of non-disclosure")
    return errors


def to_record(order: RemovalOrderIn) -> dict[str, Any]:
    """The order's fields as stored (JSON), dates as ISO strings."""
    return order.model_dump(mode="json")
