"""Carrying out Seawall's later decisions on this homeserver: redact, quarantine, suspend, label.

The module API has no calls for suspension, deactivation, quarantine or reading an event by id, so
those go through Synapse's admin API with an admin token. Redactions are sent through the module API
as the message's own sender (anyone may redact their own event, whatever the room's power levels),
falling back to ``notice_user`` (a moderator account) for senders from other servers.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from synapse.module_api import ModuleApi

from seawall_synapse.config import Settings
from seawall_synapse.deadline import within

logger = logging.getLogger(__name__)


class NotConfigured(Exception):
    """A decision needs a setting that is absent; retrying would not help, so it is reported, not retried."""


class Enforcer:
    def __init__(self, api: ModuleApi, settings: Settings) -> None:
        self._api = api
        self._settings = settings

    async def apply(self, event_type: str, data: dict[str, Any]) -> str:
        """Act on one Seawall webhook event; returns what was done. Raises if it should be retried."""
        content_id = str(data.get("content_id") or "")
        if event_type == "item.removed":
            if content_id.startswith("$"):
                return await self.redact(content_id, _reason(data))
            if content_id.startswith("mxc://"):
                return await self.quarantine(content_id)
            return "ignored: not a Matrix event or local media"
        if event_type == "item.labelled":
            if content_id.startswith("$"):
                return await self.label(content_id, str(data.get("text") or ""))
            return "ignored: only messages can be labelled"
        if event_type == "account.suspended":
            account = str(data.get("account_id") or "")
            if not account.startswith("@") or not self._api.is_mine(account):
                return "ignored: not a user of this homeserver"
            permanent = (data.get("suspension") or {}).get("kind") == "permanent"
            return await self.suspend(account, permanent=permanent)
        return f"ignored: {event_type} needs nothing from the homeserver"

    async def redact(self, event_id: str, reason: str) -> str:
        event = await self._event(event_id)
        if (event.get("unsigned") or {}).get("redacted_because"):
            return "already redacted"
        room_id, sender = event["room_id"], event["sender"]
        senders = [sender] if self._api.is_mine(sender) else []
        if self._settings.notice_user:
            senders.append(self._settings.notice_user)
        if not senders:
            raise NotConfigured("the sender is on another server; set notice_user (a room moderator) to redact")
        last: Exception | None = None
        for redactor in senders:
            try:
                await self._api.create_and_send_event_into_room({
                    "type": "m.room.redaction", "room_id": room_id, "sender": redactor, "redacts": event_id,
                    "content": {"redacts": event_id, "reason": reason},
                })
                return f"redacted by {redactor}"
            except Exception as exc:  # e.g. the sender has left the room: try the moderator
                last = exc
        raise RuntimeError(f"could not redact {event_id}: {last}")

    async def quarantine(self, mxc: str) -> str:
        server, _, media_id = mxc.removeprefix("mxc://").partition("/")
        await self._admin("POST", f"/_synapse/admin/v1/media/quarantine/{quote(server)}/{quote(media_id)}", {})
        return "quarantined"

    async def suspend(self, user_id: str, *, permanent: bool) -> str:
        if permanent and self._settings.permanent_suspension == "deactivate":
            await self._admin("POST", f"/_synapse/admin/v1/deactivate/{quote(user_id)}", {"erase": False})
            return "deactivated"
        await self._admin("PUT", f"/_synapse/admin/v1/suspend/{quote(user_id)}", {"suspend": True})
        return "suspended"

    async def label(self, event_id: str, text: str) -> str:
        """Reply to the message with a notice carrying the warning text (Matrix has no interstitials)."""
        notice_user = self._settings.notice_user
        if not notice_user:
            raise NotConfigured("labels are posted by notice_user; set it to show them")
        room_id = (await self._event(event_id))["room_id"]
        notice = {"type": "m.room.message", "room_id": room_id, "sender": notice_user, "content": {
            "msgtype": "m.notice", "body": f"Content warning: {text}", "org.seawall.label": text,
            "m.relates_to": {"m.in_reply_to": {"event_id": event_id}}}}
        try:
            await self._api.create_and_send_event_into_room(notice)
        except Exception:  # not in the room yet: join (public rooms) and try once more
            await self._api.update_room_membership(notice_user, notice_user, room_id, "join")
            await self._api.create_and_send_event_into_room(notice)
        return "labelled"

    async def _event(self, event_id: str) -> dict[str, Any]:
        found = await self._admin("GET", f"/_synapse/admin/v1/fetch_event/{quote(event_id)}")
        event = found.get("event") if isinstance(found, dict) else None
        if not isinstance(event, dict) or "room_id" not in event:
            raise RuntimeError(f"the admin API returned no event for {event_id}")
        return event

    async def _admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        token = self._settings.admin_bearer()
        if not token:
            raise NotConfigured("admin_token (or admin_token_path) is not set; this decision needs the admin API")
        url = self._settings.synapse_url + path
        headers = {b"Authorization": [b"Bearer " + token.encode()]}
        client = self._api.http_client
        timeout = self._settings.admin_timeout_s
        if method == "GET":
            return await within(timeout, client.get_json, url, None, headers)
        if method == "PUT":
            return await within(timeout, client.put_json, url, body, None, headers)
        return await within(timeout, client.post_json_get_json, url, body, headers)


def _reason(data: dict[str, Any]) -> str:
    reasons = data.get("reasons") or []
    text = "; ".join(str(r) for r in reasons if r)[:400]
    return f"Removed by moderation: {text}" if text else "Removed by moderation"
