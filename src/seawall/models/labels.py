"""The label taxonomy is data (``seawall/data/labels.json``), so operators extend it without code changes.

Labels are strings ``behaviour:<slug>``, ``ideology:<slug>`` or ``group:<slug>``; behaviours and
ideologies must be in the taxonomy, group slugs are free because designation lists differ by country.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from typing import Any

from seawall.errors import InvalidInput

_SLUG = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


@lru_cache(maxsize=1)
def taxonomy() -> dict[str, Any]:
    """The label taxonomy shipped with Seawall."""
    text = resources.files("seawall.data").joinpath("labels.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def severity(labels: Iterable[str]) -> int:
    """Highest behaviour severity among labels (1 when none is known); used to rank review work."""
    behaviours = taxonomy()["behaviour"]
    best = 1
    for label in labels:
        ns, _, slug = label.partition(":")
        if ns == "behaviour" and slug in behaviours:
            best = max(best, int(behaviours[slug]["severity"]))
    return best


def validate_labels(labels: Iterable[str], *, field: str = "labels") -> list[str]:
    """Check and de-duplicate labels, keeping their order; unknown ones are refused with the offender named."""
    tax = taxonomy()
    out: list[str] = []
    for raw in labels:
        if not isinstance(raw, str):
            raise InvalidInput(f"{field}: every label must be a string", code="invalid_label")
        label = raw.strip().lower()
        ns, sep, slug = label.partition(":")
        if not sep or not _SLUG.match(slug):
            raise InvalidInput(
                f"{field}: {raw!r} is not a label; use behaviour:<slug>, ideology:<slug> or group:<slug>",
                code="invalid_label",
            )
        if ns in ("behaviour", "ideology"):
            if slug not in tax[ns]:
                known = ", ".join(sorted(tax[ns]))
                raise InvalidInput(f"{field}: unknown {ns} {slug!r}; known: {known}", code="invalid_label")
        elif ns != "group":
            raise InvalidInput(
                f"{field}: unknown label namespace {ns!r}; use behaviour, ideology or group",
                code="invalid_label",
            )
        if label not in out:
            out.append(label)
    return out
