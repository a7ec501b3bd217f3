"""Request and response shapes for the OpenAPI document."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from seawall.api.declared import NAME_PATTERN, labels, names, not_null, signal_value
from seawall.api.edge import MAX_INT32, StoredJson, StoredText


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable error code")
    message: str = Field(description="A sentence for people")
    detail: Any | None = None


class ItemText(BaseModel):
    model_config = ConfigDict(extra="forbid")
    content_id: StoredText = Field(min_length=1, max_length=300, description="The platform's id for this upload")
    account_id: StoredText | None = Field(default=None, max_length=300, description="Uploader's pseudonymous id")
    text: str = Field(description="At most 1,000,000 bytes of UTF-8 (longer: 413 text_too_large)")
    content_type: Literal["text"] = "text"
    keep: bool = Field(default=False, description="Keep the text even if allowed (evidence for a later removal)")
    once: bool = Field(default=False, description="Return the stored item if this content_id was already sent")
    context: Annotated[dict[str, Any] | None, StoredJson] = Field(
        default=None, description="The platform's record of the upload, kept with the content (e.g. the full "
                                  "Matrix event)")
    reach: int | None = Field(default=None, ge=0, le=10**12, description="Views or followers, if known")


class SignalOut(BaseModel):
    type: str
    value: str
    quality: int | None = None


class MatchOut(BaseModel):
    bank: str
    bank_kind: str
    entry_id: int
    signal_type: str
    distance: int
    labels: list[str]
    action: str
    variant: str | None = None


class ItemOut(BaseModel):
    id: str
    content_id: str
    account_id: str | None
    content_type: str
    received_at: datetime
    size_bytes: int | None
    signals: list[SignalOut]
    verdict: Literal["allow", "block", "review", "label"]
    matches: list[MatchOut]
    reasons: list[str]
    actions: list[dict[str, Any]] = Field(
        default_factory=list, description="What the rules decided: {type, options…, rule}, in execution order"
    )


#: A bank's per-signal match distance (bits, or a score): bounded so it fits any integer column or index.
Threshold = Annotated[int, Field(ge=0, le=MAX_INT32)]


class BankCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: StoredText = Field(min_length=1, max_length=100, json_schema_extra={"pattern": NAME_PATTERN})
    description: StoredText = ""
    kind: Literal["block", "allow"] = "block"
    default_action: Literal["block", "review", "label"] = "block"
    labels: list[StoredText] = Field(default_factory=list, json_schema_extra=labels())
    thresholds: dict[StoredText, Threshold] = Field(default_factory=dict)
    enabled: bool = True


class BankPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=not_null)
    description: StoredText | None = None
    kind: Literal["block", "allow"] | None = None
    default_action: Literal["block", "review", "label"] | None = None
    labels: list[StoredText] | None = Field(default=None, json_schema_extra=labels())
    thresholds: dict[StoredText, Threshold] | None = None
    enabled: bool | None = None


class BankOut(BaseModel):
    name: str
    description: str
    kind: str
    default_action: str
    labels: list[str]
    thresholds: dict[str, int]
    enabled: bool
    created_at: datetime | None
    updated_at: datetime | None
    entry_count: int | None


class EntryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=signal_value())
    signal_type: StoredText = Field(min_length=1, max_length=32, json_schema_extra=names("signal_types"))
    value: StoredText = Field(min_length=1, max_length=10_000)
    labels: list[StoredText] = Field(default_factory=list, json_schema_extra=labels())
    source: StoredText = Field(default="", max_length=200)
    first_seen: datetime | None = None
    note: StoredText = Field(default="", max_length=10_000)


class EntryTextCreate(BaseModel):
    """A text to bank as it is: Seawall computes and stores every signal a text has."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, description="The text itself (UTF-8, at most 1 MB); only its hashes are kept")
    labels: list[StoredText] = Field(default_factory=list, json_schema_extra=labels())
    source: StoredText = Field(default="", max_length=200)
    note: StoredText = Field(default="", max_length=10_000)


class EntryOut(BaseModel):
    id: int
    signal_type: str
    value: str
    labels: list[str]
    source: str
    first_seen: datetime | None
    added_by: str
    note: str
    created_at: datetime | None
    meta: dict[str, Any]
    created: bool | None = None


class EntryBatchOut(BaseModel):
    """What a file sent to a bank became: one entry per trustworthy signal, and the signals refused."""

    entries: list[EntryOut]
    refused: list[str] = Field(description="Why a signal was not added (e.g. PDQ quality below the minimum)")


class ImportOut(BaseModel):
    lines_read: int
    added: int
    duplicates: int
    rejected: int
    rejected_lines: list[dict[str, Any]]
    rejected_lines_truncated: bool


class RehashIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    new_types: StrictBool = Field(default=False, description="Also add signal types a kept content has none of")


class RehashOut(BaseModel):
    banks: int
    contents: int
    added: dict[str, int] = Field(description="Entries added, per signal type")
    removed: dict[str, int] = Field(description="Entries removed (values no longer computed), per signal type")
    unchanged: int
    already_present: int = Field(description="Values computed again that the bank holds from elsewhere")
    not_from_content: int = Field(description="Entries not computed from kept content (left as they are)")
    failed: list[str] = Field(description="Kept contents that could not be hashed again, with why")


class LookupOut(BaseModel):
    signal_type: str
    value: str
    matches: list[MatchOut]


class LaterDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    actions: Annotated[list[Any], StoredJson] = Field(
        min_length=1, max_length=20, json_schema_extra={"items": {"anyOf": [
            {"type": "string", **names("action_types")},
            {"type": "object", "minProperties": 1, "maxProperties": 1, "propertyNames": names("action_types")}]}},
        description='Actions as in a rule: "remove", {"label": "text"}, {"suspend": 7}, "strike"')
    note: StoredText = Field(default="", max_length=2000, description="Why, for the record and the user")
