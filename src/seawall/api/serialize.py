"""Domain objects → JSON-ready dicts for responses."""

from __future__ import annotations

from typing import Any

from seawall.models.records import Bank


def bank_dict(b: Bank) -> dict[str, Any]:
    return {
        "name": b.name,
        "description": b.description,
        "kind": b.kind,
        "default_action": b.default_action,
        "labels": b.labels,
        "thresholds": b.thresholds,
        "enabled": b.enabled,
        "created_at": b.created_at.isoformat() if b.created_at else None,
        "updated_at": b.updated_at.isoformat() if b.updated_at else None,
        "entry_count": b.entry_count,
    }
