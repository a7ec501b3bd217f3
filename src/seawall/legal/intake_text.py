"""Reading an authority's e-mail or the text of its PDF order into Annex I fields.

Orders arrive as e-mails or PDFs following the Annex I template. This reads the fields it can
recognise by their template labels ("Order reference number:", "URL", the Art. 2(7) tick-boxes…)
and reports what it could not find, so a person completes the rest in the console before intake.
Nothing here sets the receipt time: that is taken when the completed order is submitted.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from seawall.legal.annex1 import MEMBER_STATES

_URL = re.compile(r"https?://[^\s<>\"')\]]+")
_LABELS: dict[str, tuple[str, ...]] = {
    "reference": (r"order reference(?: number)?", r"reference number"),
    "issuing_state": (r"issuing member state", r"member state of the issuing authority"),
    "addressee": (r"addressee",),
    "legal_representative": (r"legal representative",),
    "contact_point": (r"contact point",),
    "issued_at": (r"date and time of issu(?:e|ing)", r"date of issue"),
    "authority.name": (r"name of the issuing (?:competent )?authority", r"issuing authority", r"authority name"),
    "authority.representative": (r"name of (?:its|the authority's) representative", r"representative"),
    "authority.post": (r"post held", r"post"),
    "authority.file_number": (r"file number",),
    "authority.address": (r"address",),
    "authority.phone": (r"tel(?:ephone)?(?: no\.?| number)?", r"phone"),
    "authority.fax": (r"fax(?: no\.?| number)?",),
    "authority.email": (r"e-?mail",),
    "follow_up_contact": (r"contact details? for follow-?up",),
    "redress.body": (r"competent (?:body|court)", r"redress"),
    "redress.deadline": (r"deadline for (?:challenging|appeal)",),
    "additional_reasons": (r"additional (?:information|reasons)",),
}
_REASON_WORDS: dict[str, tuple[str, ...]] = {
    "incitement": ("2(7)(a)", "incites"),
    "solicitation_offence": ("2(7)(b)", "solicits a person or a group of persons to commit"),
    "solicitation_group": ("2(7)(c)", "participate in the activities of a terrorist group"),
    "instruction": ("2(7)(d)", "provides instruction"),
    "threat": ("2(7)(e)", "threat to commit"),
}
_TICKED = re.compile(r"^\s*(?:\[[xX✓]\]|☒|☑|\(x\))")
REQUIRED = ("reference", "issuing_state", "issued_at", "authority.name", "urls", "reasons")


def _set(out: dict[str, Any], dotted: str, value: Any) -> None:
    head, _, tail = dotted.partition(".")
    if tail:
        out.setdefault(head, {})[tail] = value
    else:
        out[head] = value


def _date(value: str) -> str | None:
    for fmt in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M%z", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M",
                "%d/%m/%Y %H:%M", "%d.%m.%Y %H:%M", "%Y-%m-%d"):
        try:
            return datetime.strptime(value.strip().replace(" UTC", "+0000").replace("Z", "+0000"), fmt).isoformat()
        except ValueError:
            continue
    return None


def parse(text: str) -> dict[str, Any]:
    """Annex I fields found in ``text`` (``fields``) and the required ones it could not read (``missing``)."""
    out: dict[str, Any] = {}
    lines = text.replace("\r\n", "\n").split("\n")
    for line in lines:
        stripped = _TICKED.sub("", line).strip()
        label, sep, value = stripped.partition(":")
        if not sep or not value.strip():
            continue
        low = label.strip().lower()
        for key, patterns in _LABELS.items():
            if key in out or (key.count(".") and key.split(".")[1] in out.get(key.split(".")[0], {})):
                continue
            if any(re.fullmatch(p, low) for p in patterns):
                v = value.strip()
                if key == "issued_at":
                    parsed = _date(v)
                    if parsed is None:
                        continue
                    v = parsed
                if key == "issuing_state":
                    code = v.upper()[:2]
                    if code not in MEMBER_STATES:
                        continue
                    v = code
                _set(out, key, v[:1000])
                break
    urls = list(dict.fromkeys(u.rstrip(".,;") for u in _URL.findall(text)
                              if not u.lower().startswith(("https://eur-lex", "http://eur-lex"))))
    email = (out.get("authority") or {}).get("email", "")
    out["urls"] = [u for u in urls if email not in u or not email]
    reasons = []
    for line in lines:
        if not _TICKED.match(line):
            continue
        low = line.lower()
        for reason, words in _REASON_WORDS.items():
            if any(w in low for w in words) and reason not in reasons:
                reasons.append(reason)
    out["reasons"] = reasons
    lowtext = text.lower()
    if re.search(r"(\[[xX✓]\]|☒|☑)\s*[^\n]*(do not|shall not) (inform|disclose)", lowtext):
        out["do_not_inform"] = True
    if re.search(r"(\[[xX✓]\]|☒|☑)\s*[^\n]*main establishment[^\n]*another member state", lowtext):
        out["cross_border"] = True
    missing = [k for k in REQUIRED if not (out.get(k) if "." not in k
                                           else (out.get(k.split(".")[0]) or {}).get(k.split(".")[1]))]
    return {"fields": out, "missing": missing}
