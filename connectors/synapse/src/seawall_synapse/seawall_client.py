"""Asking Seawall about one message or upload: the ``/v1/items`` calls, over Synapse's own HTTP client.

Every call hands Seawall the full content (and, for messages, the whole event) so that what is blocked
is kept by Seawall: Synapse never stores a rejected event, and the evidence is needed for appeals and
for the six months of preservation the EU TCO Regulation asks for. ``once`` makes a re-sent event
(federation retries, a second check) get the first decision instead of a second item.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from synapse.module_api import ModuleApi, make_deferred_yieldable
from twisted.web.client import readBody
from twisted.web.http_headers import Headers

from seawall_synapse.config import Settings
from seawall_synapse.deadline import within

USER_AGENT = b"seawall-synapse/0.1"


class SeawallError(Exception):
    """Seawall could not be asked or did not answer with a verdict."""


def plain(value: Any) -> Any:
    """Synapse's frozen event mappings and tuples as plain JSON-able dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [plain(v) for v in value]
    return value


def multipart(fields: dict[str, str], file_bytes: bytes, boundary: str) -> bytes:
    """A multipart/form-data body with text fields and one ``file`` part (Seawall sniffs its type)."""
    out = bytearray()
    for name, value in fields.items():
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n').encode()
        out += value.encode() + b"\r\n"
    out += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="upload"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    out += file_bytes + f"\r\n--{boundary}--\r\n".encode()
    return bytes(out)


class SeawallClient:
    def __init__(self, api: ModuleApi, settings: Settings) -> None:
        self._api = api
        self._settings = settings
        self._auth = b"Bearer " + settings.api_key.encode()

    async def check_text(self, *, content_id: str, account_id: str, text: str,
                         context: dict[str, Any]) -> dict[str, Any]:
        """Seawall's item for a message (verdict, reasons); SeawallError on any failure or timeout."""
        payload = {"content_id": content_id, "account_id": account_id, "text": text, "once": True,
                   "keep": self._settings.keep_content, "context": context}
        headers = {b"Authorization": [self._auth], b"User-Agent": [USER_AGENT]}
        try:
            item = await within(self._settings.timeout_s, self._api.http_client.post_json_get_json,
                                self._settings.items_url, payload, headers)
        except Exception as exc:
            raise SeawallError(f"{type(exc).__name__}: {exc}") from exc
        return self._item(item)

    async def check_media(self, *, content_id: str, data: bytes, context: dict[str, Any]) -> dict[str, Any]:
        """Seawall's item for an upload; SeawallError on any failure or timeout."""
        try:
            # images take longer (decoding, PDQ, reading their text), and an upload is not a chat line
            item = await within(self._settings.media_timeout_s, self._post_media, content_id, data, context)
        except Exception as exc:
            raise SeawallError(f"{type(exc).__name__}: {exc}") from exc
        return self._item(item)

    async def _post_media(self, content_id: str, data: bytes, context: dict[str, Any]) -> Any:
        boundary = uuid.uuid4().hex
        fields = {"content_id": content_id, "once": "true", "keep": "true" if self._settings.keep_content else "false",
                  "context": json.dumps(context)}
        headers = Headers({b"Authorization": [self._auth], b"User-Agent": [USER_AGENT],
                           b"Accept": [b"application/json"],
                           b"Content-Type": [f"multipart/form-data; boundary={boundary}".encode()]})
        response = await self._api.http_client.request("POST", self._settings.items_url,
                                                      data=multipart(fields, data, boundary), headers=headers)
        body = await make_deferred_yieldable(readBody(response))
        if not 200 <= response.code < 300:
            raise SeawallError(f"HTTP {response.code}: {body[:200]!r}")
        return json.loads(body)

    @staticmethod
    def _item(item: Any) -> dict[str, Any]:
        if not isinstance(item, dict) or "id" not in item:
            raise SeawallError("the answer is not a Seawall item")
        return item
