"""How the console names things for people: reasons as bank and label, ages as ages, who added an entry.

The store keeps machine ids (rule ids, ``console:<user>``, ``key:<key id>``, timestamps) because they
are exact; a reviewer needs the signal behind them at a glance. These helpers turn the one into the
other in one place, so every page speaks the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from seawall.models.labels import taxonomy
from seawall.store.tables import utcnow


def label_title(label: str) -> str:
    """``behaviour:glorification`` → ``Glorification``; group tags keep their slug."""
    ns, _, slug = label.partition(":")
    entry = taxonomy().get(ns, {}).get(slug) if ns in ("behaviour", "ideology") else None
    if isinstance(entry, dict) and entry.get("title"):
        return str(entry["title"])
    return slug or label


def match_reasons(matches: Iterable[Any]) -> list[str]:
    """One line per matched bank: ``bank watch: Glorification, Recruitment``, best evidence first."""
    by_bank: dict[str, list[str]] = {}
    for m in matches:
        labels = by_bank.setdefault(str(m.bank_name), [])
        for lb in m.labels:
            title = label_title(lb)
            if title not in labels:
                labels.append(title)
    return [f"bank {bank}: {', '.join(labels)}" if labels else f"bank {bank} (no labels)"
            for bank, labels in by_bank.items()]


def case_reason(reason: str, matches: Iterable[Any]) -> str:
    """The case's reason with rule ids replaced by the banks and labels that made the rule fire."""
    parts = [p.strip() for p in reason.split(";") if p.strip()]
    shown = match_reasons(matches)
    out: list[str] = []
    for p in parts:
        if p.startswith("rule ") and shown:
            for line in shown:
                if line not in out:
                    out.append(line)
        elif p not in out:
            out.append(p)
    return "; ".join(out)


def human_age(since: datetime, now: datetime | None = None) -> str:
    """``just now``, ``12 min``, ``3 h 5 min``, ``2 days 4 h``: how long it has waited."""
    secs = max(0, int(((now or utcnow()) - since).total_seconds()))
    if secs < 60:
        return "just now"
    if secs < 3600:
        return f"{secs // 60} min"
    if secs < 86400:
        h, m = divmod(secs // 60, 60)
        return f"{h} h {m} min" if m else f"{h} h"
    d, h = divmod(secs // 3600, 24)
    return f"{d} day{'s' if d != 1 else ''}" + (f" {h} h" if h else "")


def added_by(raw: str, key_names: Mapping[str, str]) -> str:
    """``console:sam`` → ``sam (console)``; a key id (bare or ``key:``) → ``API key “platform”``; else as is."""
    if raw in key_names:
        return f"API key “{key_names[raw]}”" if key_names[raw] else f"an unnamed API key ({raw})"
    kind, sep, rest = raw.partition(":")
    if not sep:
        return raw
    if kind == "console":
        return f"{rest} (console)"
    if kind == "key":
        if rest in key_names:
            return added_by(rest, key_names)
        return "an API key since removed"
    return raw
