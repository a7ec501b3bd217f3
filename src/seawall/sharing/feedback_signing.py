"""Signed feedback from a subscriber to a Seawall publisher: Ed25519, one key pair per instance.

The subscriber signs each feedback call with its instance key (the key its own feeds are signed
with); the publisher pinned that public key on the partner, so a stolen partner token alone cannot
forge opinions. The signed payload names the feed and the moment it was sent: the publisher refuses a
payload for another feed, one sent too far from its own clock, and one not newer than the last it
accepted from that partner (a replay), each with a 4xx and nothing recorded.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from seawall.errors import Forbidden, InvalidInput, Unauthorized
from seawall.sharing.signing import b64, canonical, public_key_from, verify
from seawall.store.tables import utcnow

#: Longest a signed feedback call may sit between signing and arrival (either clock may be ahead).
MAX_SKEW = timedelta(minutes=5)
MAX_OPINIONS = 10_000


def signed_feedback(key: Ed25519PrivateKey, feed: str, opinions: list[dict[str, Any]],
                    sent_at: datetime | None = None) -> bytes:
    """The request body of one feedback call: the payload and its signature by ``key``."""
    payload = {"feed": feed, "sent_at": (sent_at or utcnow()).isoformat(), "opinions": opinions}
    return json.dumps({"feedback": payload, "signature": b64(key.sign(canonical(payload)))},
                      separators=(",", ":")).encode("utf-8")


def open_feedback(raw: bytes, *, feed: str, partner_key: str | None,
                  now: datetime | None = None) -> tuple[list[Any], datetime]:
    """Check a feedback body against the partner's pinned key; returns its opinions and send time.

    Whether the send time is newer than the partner's last accepted one is for the caller to check
    atomically with recording (see ``FeedService.feedback``)."""
    if not partner_key:
        raise Forbidden("this partner has no public key registered; the publisher sets it with "
                        "PATCH /v1/feeds/{feed}/partners/{partner}", code="partner_key_missing")
    try:
        envelope = json.loads(raw)
    except ValueError:
        raise InvalidInput("the body is not JSON", code="invalid_body") from None
    payload = envelope.get("feedback") if isinstance(envelope, dict) else None
    signature = envelope.get("signature") if isinstance(envelope, dict) else None
    if not isinstance(payload, dict) or not isinstance(signature, str):
        raise InvalidInput("the body needs 'feedback' (an object) and 'signature' (base64)", code="invalid_body")
    if not verify(public_key_from(partner_key), signature, payload):
        raise Unauthorized("the feedback is not signed by the partner's registered key",
                           code="bad_feedback_signature")
    if payload.get("feed") != feed:
        raise Unauthorized(f"the feedback was signed for feed {payload.get('feed')!r}, not {feed!r}",
                           code="bad_feedback_signature")
    try:
        sent_at = datetime.fromisoformat(str(payload.get("sent_at")))
    except ValueError:
        raise InvalidInput("feedback.sent_at: an ISO 8601 time with its offset", code="invalid_body") from None
    if sent_at.tzinfo is None:
        raise InvalidInput("feedback.sent_at: an ISO 8601 time with its offset", code="invalid_body")
    if abs((now or utcnow()) - sent_at) > MAX_SKEW:
        raise Unauthorized("the feedback was signed more than five minutes from now; check both clocks",
                           code="stale_feedback")
    opinions = payload.get("opinions")
    if not isinstance(opinions, list) or len(opinions) > MAX_OPINIONS:
        raise InvalidInput("feedback.opinions: a list of at most 10,000 {entry_id, opinion}",
                           code="invalid_opinion")
    return opinions, sent_at
