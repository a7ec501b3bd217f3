"""Standard Webhooks signature check, so only Seawall can make this homeserver redact or suspend.

The scheme (https://www.standardwebhooks.com): ``webhook-signature`` holds one or more space-separated
``v1,<base64 HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>")>``; the timestamp must be recent
so a captured request cannot be replayed later. A few lines of hmac are enough: no dependency needed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

TOLERANCE_S = 300


class BadSignature(ValueError):
    pass


def verify(key: bytes, message_id: str | None, timestamp: str | None, signatures: str | None, body: bytes,
           now: float | None = None) -> None:
    """Return if one of the signatures is valid for this body and the timestamp is recent; else BadSignature."""
    if not message_id or not timestamp or not signatures:
        raise BadSignature("missing webhook-id, webhook-timestamp or webhook-signature header")
    try:
        sent = int(timestamp)
    except ValueError:
        raise BadSignature("webhook-timestamp is not a number") from None
    if abs((now if now is not None else time.time()) - sent) > TOLERANCE_S:
        raise BadSignature("webhook-timestamp is too old or in the future")
    signed = message_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected):
            return
    raise BadSignature("no valid v1 signature")
