"""The endpoint Seawall's webhooks call: check the signature, apply the decision, answer so Seawall knows.

A failure answers 500, and Seawall retries with backoff (same ``webhook-id``); a decision this
homeserver cannot carry out for lack of a setting answers 200 with the reason, since a retry would not
help. Seawall delivers at least once, so ids already applied are remembered and not applied twice.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from typing import Any

from synapse.module_api import DirectServeJsonResource, SynapseRequest

from seawall_synapse.enforcement import Enforcer, NotConfigured
from seawall_synapse.signature import BadSignature, verify

logger = logging.getLogger(__name__)

MAX_BODY = 1_000_000
REMEMBER = 10_000


class WebhookResource(DirectServeJsonResource):
    def __init__(self, key: bytes, enforcer: Enforcer) -> None:
        super().__init__()
        self._key = key
        self._enforcer = enforcer
        self._applied: OrderedDict[str, str] = OrderedDict()

    async def _async_render_POST(self, request: SynapseRequest) -> tuple[int, dict[str, Any]]:
        body = request.content.read(MAX_BODY + 1) if request.content is not None else b""
        if len(body) > MAX_BODY:
            return 413, {"errcode": "M_TOO_LARGE", "error": "webhook body too large"}
        message_id = request.getHeader("webhook-id")
        try:
            verify(self._key, message_id, request.getHeader("webhook-timestamp"),
                   request.getHeader("webhook-signature"), body)
        except BadSignature as exc:
            logger.warning("Seawall webhook refused: %s", exc)
            return 401, {"errcode": "M_UNAUTHORIZED", "error": f"bad webhook signature: {exc}"}
        assert message_id is not None
        if message_id in self._applied:
            return 200, {"status": f"already applied: {self._applied[message_id]}"}
        try:
            envelope = json.loads(body)
            event_type, data = str(envelope["type"]), envelope["data"]
            if not isinstance(data, dict):
                raise TypeError("data is not an object")
        except (ValueError, KeyError, TypeError) as exc:
            return 400, {"errcode": "M_BAD_JSON", "error": f"not a Seawall event: {exc}"}
        try:
            outcome = await self._enforcer.apply(event_type, data)
        except NotConfigured as exc:
            logger.warning("Seawall %s %s not applied: %s", event_type, message_id, exc)
            return 200, {"status": f"not applied: {exc}"}
        except Exception as exc:
            logger.exception("Seawall %s %s failed; Seawall will retry", event_type, message_id)
            return 500, {"errcode": "M_UNKNOWN", "error": f"could not apply {event_type}: {type(exc).__name__}"}
        logger.info("Seawall %s %s: %s", event_type, message_id, outcome)
        self._applied[message_id] = outcome
        while len(self._applied) > REMEMBER:
            self._applied.popitem(last=False)
        return 200, {"status": outcome}
