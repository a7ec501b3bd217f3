"""A local validator with the Transparency Database's field rules, so a statement is refused here —
naming the field and the rule — before a batch of 100 is refused there as a whole.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from seawall.legal import sor_fields as F

PUID = re.compile(r"^[a-zA-Z0-9-_]+$")
URL = re.compile(r"^https?://[^\s/$.?#].[^\s]*$", re.I)
LANG = re.compile(r"^[A-Z]{2}$")
EAN13 = re.compile(r"^\d{13}$")
DECISIONS = ("decision_visibility", "decision_monetary", "decision_provision", "decision_account")


class Problems:
    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, field: str, rule: str, message: str) -> None:
        self.items.append({"field": field, "rule": rule, "message": message})


def _date(p: Problems, rec: dict[str, Any], field: str, lo: date, hi: date, *, required: bool) -> date | None:
    value = rec.get(field)
    if value in (None, ""):
        if required:
            p.add(field, "required", f"{field} is required")
        return None
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        p.add(field, "date_format:Y-m-d", f"{field} must be a date written YYYY-MM-DD")
        return None
    try:
        d = date.fromisoformat(value)
    except ValueError:
        p.add(field, "date_format:Y-m-d", f"{field} is not a real date")
        return None
    if not lo <= d <= hi:
        p.add(field, "between", f"{field} must be between {lo} and {hi}")
    return d


def _enum_list(p: Problems, rec: dict[str, Any], field: str, allowed: tuple[str, ...], *, required: bool) -> list[str]:
    value = rec.get(field)
    if value in (None, []):
        if required:
            p.add(field, "required", f"{field} is required")
        return []
    if not isinstance(value, list):
        p.add(field, "array", f"{field} must be a list")
        return []
    for v in value:
        if v not in allowed:
            p.add(field, "in", f"{field}: {v!r} is not one of the allowed values")
    return [v for v in value if isinstance(v, str)]


def _enum(p: Problems, rec: dict[str, Any], field: str, allowed: tuple[str, ...], *, required: bool) -> str | None:
    value = rec.get(field)
    if value in (None, ""):
        if required:
            p.add(field, "required", f"{field} is required")
        return None
    if value not in allowed:
        p.add(field, "in", f"{field}: {value!r} is not one of {', '.join(allowed)}")
        return None
    return str(value)


def _text(p: Problems, rec: dict[str, Any], field: str, limit: int, *, required: bool) -> str | None:
    value = rec.get(field)
    if value in (None, ""):
        if required:
            p.add(field, "required", f"{field} is required")
        return None
    if not isinstance(value, str):
        p.add(field, "string", f"{field} must be text")
        return None
    if len(value) > limit:
        p.add(field, f"max:{limit}", f"{field} may be at most {limit} characters")
    return value


def validate(rec: dict[str, Any]) -> list[dict[str, str]]:
    """Every rule the database applies, as far as it can be checked without the database; [] when valid."""
    p = Problems()
    if not any(rec.get(f) not in (None, [], "") for f in DECISIONS):
        p.add("decision_visibility", "required_without_all",
              "at least one of decision_visibility, decision_monetary, decision_provision, decision_account")
    vis = _enum_list(p, rec, "decision_visibility", F.DECISION_VISIBILITY, required=False)
    _text(p, rec, "decision_visibility_other", 500, required="DECISION_VISIBILITY_OTHER" in vis)
    mon = _enum(p, rec, "decision_monetary", F.DECISION_MONETARY, required=False)
    _text(p, rec, "decision_monetary_other", 500, required=mon == "DECISION_MONETARY_OTHER")
    _enum(p, rec, "decision_provision", F.DECISION_PROVISION, required=False)
    _enum(p, rec, "decision_account", F.DECISION_ACCOUNT, required=False)
    _enum(p, rec, "account_type", F.ACCOUNT_TYPE, required=False)
    ground = _enum(p, rec, "decision_ground", F.DECISION_GROUND, required=True)
    ref = _text(p, rec, "decision_ground_reference_url", 500, required=False)
    if ref is not None and not URL.match(ref):
        p.add("decision_ground_reference_url", "url", "decision_ground_reference_url must be a URL")
    illegal = ground == "DECISION_GROUND_ILLEGAL_CONTENT"
    incompatible = ground == "DECISION_GROUND_INCOMPATIBLE_CONTENT"
    _text(p, rec, "illegal_content_legal_ground", 500, required=illegal)
    _text(p, rec, "illegal_content_explanation", 2000, required=illegal)
    _text(p, rec, "incompatible_content_ground", 500, required=incompatible)
    _text(p, rec, "incompatible_content_explanation", 2000, required=incompatible)
    _enum(p, rec, "incompatible_content_illegal", F.YES_NO, required=False)
    _text(p, rec, "decision_facts", 5000, required=True)
    _enum(p, rec, "category", F.CATEGORIES, required=True)
    _enum_list(p, rec, "category_addition", F.CATEGORIES, required=False)
    spec = _enum_list(p, rec, "category_specification", F.KEYWORDS, required=False)
    _text(p, rec, "category_specification_other", 500, required="KEYWORD_OTHER" in spec)
    ctypes = _enum_list(p, rec, "content_type", F.CONTENT_TYPES, required=True)
    _text(p, rec, "content_type_other", 500, required="CONTENT_TYPE_OTHER" in ctypes)
    cid = rec.get("content_id")
    if cid is not None:
        if not isinstance(cid, dict) or set(cid) - {"EAN-13"}:
            p.add("content_id", "array:EAN-13", "content_id may only hold the key EAN-13")
        elif "EAN-13" in cid and not EAN13.match(str(cid["EAN-13"])):
            p.add("content_id.EAN-13", "digits:13", "content_id.EAN-13 must be 13 digits")
    lang = rec.get("content_language")
    if lang not in (None, "") and not (isinstance(lang, str) and LANG.match(lang)):
        p.add("content_language", "in", "content_language must be an uppercase ISO 639-1 code such as EN")
    _date(p, rec, "content_date", date(2000, 1, 1), date(2038, 1, 1), required=True)
    applied = _date(p, rec, "application_date", date(2020, 1, 1), date(2038, 1, 1), required=True)
    for end in ("end_date_visibility_restriction", "end_date_monetary_restriction",
                "end_date_service_restriction", "end_date_account_restriction"):
        d = _date(p, rec, end, date(2000, 1, 1), date(2038, 1, 1), required=False)
        if d is not None and applied is not None and d < applied:
            p.add(end, "after_or_equal:application_date", f"{end} must not be before application_date")
    _enum_list(p, rec, "territorial_scope", F.TERRITORIES, required=False)
    source = _enum(p, rec, "source_type", F.SOURCE_TYPES, required=True)
    if source != "SOURCE_VOLUNTARY":
        _text(p, rec, "source_identity", 500, required=False)
    _enum(p, rec, "automated_detection", F.YES_NO, required=True)
    _enum(p, rec, "automated_decision", F.AUTOMATED_DECISION, required=True)
    puid = _text(p, rec, "puid", 500, required=True)
    if puid is not None and not PUID.match(puid):
        p.add("puid", "regex", "puid may contain only letters, digits, '-' and '_'")
    return p.items
