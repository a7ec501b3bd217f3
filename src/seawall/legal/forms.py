"""The answers to an authority: Annex II (feedback after removal) and Annex III (cannot comply), as JSON.

The same dictionaries are rendered to PDF by :mod:`seawall.legal.pdf`, so what is signed and what
is stored never differ.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from seawall.legal.clock import as_utc
from seawall.legal.settings import LegalSettings

ANNEX3_REASONS = {
    "force_majeure": "Force majeure or de facto impossibility not attributable to the hosting service provider, "
                     "including for objectively justifiable technical or operational reasons (Art. 3(7))",
    "manifest_errors": "The removal order contains manifest errors (Art. 3(8))",
    "insufficient_information": "The removal order does not contain sufficient information (Art. 3(8))",
}


def _iso(when: datetime | None) -> str | None:
    return as_utc(when).isoformat() if when else None


def section_a(order: dict[str, Any], hsp: LegalSettings) -> dict[str, Any]:
    """Identification shared by Annex II and III."""
    fields = order["fields"]
    return {
        "addressee": fields.get("addressee") or hsp.provider_name,
        "issuing_authority": (fields.get("authority") or {}).get("name"),
        "issuing_state": fields.get("issuing_state"),
        "authority_file_reference": (fields.get("authority") or {}).get("file_number") or fields.get("reference"),
        "order_reference": fields.get("reference"),
        "provider_file_reference": f"RO-{order['id']}",
        "received_at": order["received_at"],
    }


def section_c(hsp: LegalSettings, when: datetime) -> dict[str, Any]:
    return {"provider_name": hsp.provider_name, "establishment_state": hsp.establishment_state,
            "authorised_person": hsp.authorised_person, "contact_email": hsp.contact_email, "date": _iso(when)}


def annex2(order: dict[str, Any], hsp: LegalSettings, now: datetime) -> dict[str, Any]:
    """Feedback on the removal (Art. 3(6)): what was done and when."""
    return {
        "form": "annex_ii", "title": "Feedback following removal or disabling of terrorist content",
        "legal_basis": "Article 3(6) of Regulation (EU) 2021/784",
        "A": section_a(order, hsp),
        "B": {"measure": "content removed" if order["items"] or order["removed_at"] else "access disabled",
              "scope": "in all Member States", "measure_at": order["removed_at"],
              "urls": order["fields"].get("urls", [])},
        "C": section_c(hsp, now),
    }


def annex3(order: dict[str, Any], hsp: LegalSettings, now: datetime, *, reason: str, explanation: str,
           clarification: str) -> dict[str, Any]:
    """Inability to execute (Art. 3(7)/(8)): why, and for errors or gaps what clarification is needed."""
    return {
        "form": "annex_iii", "title": "Information about the impossibility to execute the removal order",
        "legal_basis": "Article 3(7) and 3(8) of Regulation (EU) 2021/784",
        "A": section_a(order, hsp),
        "B": {"reason": reason, "reason_text": ANNEX3_REASONS[reason], "explanation": explanation,
              "clarification_needed": clarification if reason != "force_majeure" else "",
              "clock": ("the hour restarts when the obstacle ends" if reason == "force_majeure"
                        else "the hour restarts when the clarification is received")},
        "C": {**section_c(hsp, now), "signature": hsp.authorised_person},
    }
