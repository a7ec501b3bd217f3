"""What the routes check in code, written into the OpenAPI document so the schema says what is accepted.

Many rules are checked past pydantic: a bank or feed name's characters, an enum the services hold (a
report's category, an Art. 6 purpose), a field that must not be blank once trimmed. A client and the
schema fuzz test only see the document, so each of those rules is declared here and attached to the
request model or parameter it governs as JSON Schema *annotations* (``json_schema_extra`` /
``openapi_extra``). They change the document only: the checks, their order, and the error code and
sentence of a refusal stay where they were, so no request is accepted or refused differently.

Names that plugins can add to (signal types, webhook event types, exchanges, actions) are marked with
:data:`NAMES_KEY`, and a bank entry's per-type value form with :data:`SIGNAL_VALUE_KEY`; both are filled
in from the app's registry when the document is built, by :func:`fill_registry_names`.

A pattern states the form a client should send, which may be narrower than what the check takes (a
label in lower case, a date from year 1000); some checks look further than a pattern can (a calendar
date, a URL's address, whether a named bank exists) and refuse as before. ``tests/test_api_declared.py``
checks that the strings the patterns describe pass their checks.
"""

from __future__ import annotations

from typing import Any

from seawall.models.labels import taxonomy
from seawall.plugins import Registry

#: Bank, feed, partner and source names (``seawall.banks.service``, ``seawall.sharing.feeds``/``sources``).
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
#: A text field refused when blank once trimmed: it holds at least one non-space character.
NOT_BLANK = r"\S"
#: A date or date and time as ``datetime.fromisoformat`` reads it (``2026-01-01``, ``2026-01-01T12:00:00Z``).
ISO_DATE_TIME = (r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
                 r"([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?"
                 r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?)?$")
#: A webhook target: http(s), a host, no credentials (``seawall.webhooks.ssrf``; the address is checked too).
WEBHOOK_URL = r"^[Hh][Tt][Tt][Pp][Ss]?://(\[[0-9A-Fa-f:.]+\]|[^/?#@:\[\]\s]+)(:[0-9]{1,5})?([/?#][^\s]*)?$"
_B64 = "[A-Za-z0-9+/]"
#: A webhook signing secret: ``whsec_`` (optional) and the base64 of 24 to 64 bytes.
WEBHOOK_SECRET = (rf"^(whsec_)?(({_B64}{{4}}){{8,20}}({_B64}{{4}}|{_B64}{{3}}=|{_B64}{{2}}==)?"
                  rf"|({_B64}{{4}}){{21}}({_B64}{{2}}==)?)$")
#: An Ed25519 public key: base64 of its 32 bytes, or 64 hex digits (``seawall.sharing.signing``).
ED25519_KEY = rf"^\s*({_B64}{{43}}=|[0-9A-Fa-f]{{64}})\s*$"
#: ``suspend`` of a reviewer's decision: 1 to 36,500 days, ``default`` or ``permanent`` (or empty: none).
SUSPEND = r"^\s*(0*([1-9][0-9]{0,3}|[12][0-9]{4}|3[0-5][0-9]{3}|36[0-4][0-9]{2}|36500)|default|permanent)?\s*$"

#: The key marking a schema whose ``enum`` is a registry's names (its value names the registry table).
NAMES_KEY = "x-seawall-names"
#: Registry tables a schema may take its names from.
REGISTRY_TABLES = ("signal_types", "event_types", "exchanges", "action_types")
#: The key marking an object schema whose ``value`` has the form its ``signal_type`` names: it becomes one
#: form per signal type, each with that type's :attr:`~seawall.signals.base.SignalType.value_pattern`.
SIGNAL_VALUE_KEY = "x-seawall-signal-value"


def names(table: str) -> dict[str, Any]:
    """Annotation: the value is one of the registry's ``table`` names (filled in by :func:`fill_registry_names`)."""
    assert table in REGISTRY_TABLES, table
    return {NAMES_KEY: table}


def signal_value() -> dict[str, Any]:
    """Annotation of a model with ``signal_type`` and ``value`` (see :data:`SIGNAL_VALUE_KEY`)."""
    return {SIGNAL_VALUE_KEY: True}


def label_pattern() -> str:
    """A label in canonical form: a known ``behaviour:`` or ``ideology:`` slug, or any ``group:`` slug.

    The server also takes surrounding spaces and capitals (it trims and lowers labels); the document
    states the form a client should send.
    """
    tax = taxonomy()
    behaviour = "|".join(sorted(slug.replace(".", r"\.") for slug in tax["behaviour"]))
    ideology = "|".join(sorted(slug.replace(".", r"\.") for slug in tax["ideology"]))
    return rf"^(behaviour:({behaviour})|ideology:({ideology})|group:[a-z0-9][a-z0-9._-]{{0,63}})$"


def labels() -> dict[str, Any]:
    """Annotation for a list of labels."""
    return {"items": {"type": "string", "pattern": label_pattern()}}


def fill_registry_names(doc: Any, registry: Registry) -> Any:
    """``doc`` with every :data:`NAMES_KEY` mark replaced by the ``enum`` of that registry table's names,
    so plugins' signal types, events, exchanges and actions appear in the document too."""
    if isinstance(doc, list):
        return [fill_registry_names(v, registry) for v in doc]
    if not isinstance(doc, dict):
        return doc
    out = {k: fill_registry_names(v, registry) for k, v in doc.items() if k not in (NAMES_KEY, SIGNAL_VALUE_KEY)}
    table = doc.get(NAMES_KEY)
    if table is not None:
        out["enum"] = sorted(getattr(registry, table))
    return _per_signal_type(out, registry) if doc.get(SIGNAL_VALUE_KEY) else out


def _per_signal_type(schema: dict[str, Any], registry: Registry) -> dict[str, Any]:
    """``schema`` (an object with ``signal_type`` and ``value``) as one form per registered signal type."""
    forms = []
    for name, signal in sorted(registry.signal_types.items()):
        props = dict(schema["properties"])
        props["signal_type"] = {"type": "string", "const": name}
        if signal.value_pattern:
            props["value"] = {**props["value"], "pattern": signal.value_pattern}
        forms.append({**schema, "title": f"{schema.get('title', 'Value')} ({name})", "properties": props})
    return {"oneOf": forms}


def not_null(schema: dict[str, Any]) -> None:
    """``json_schema_extra`` of a PATCH model whose fields may be left out but not sent as null (the route
    refuses a null with ``invalid_field``): null is dropped from every property's types."""
    for prop in schema.get("properties", {}).values():
        options = prop.get("anyOf")
        if options:
            kept = [o for o in options if o.get("type") != "null"]
            if len(kept) == 1:  # the one type left, with the field's own annotations over it
                annotations = {k: v for k, v in prop.items() if k != "anyOf"}
                prop.clear()
                prop.update({**kept[0], **annotations})
            else:
                prop["anyOf"] = kept
        if "default" in prop and prop["default"] is None:
            del prop["default"]
