"""The Synapse module: ask Seawall before a message or upload is accepted, and take its later decisions.

Runs inside Synapse's Twisted reactor: every network call goes through Synapse's HTTP client with a
deadline, and nothing raises out of a callback (an exception there would refuse the message with a
500, an accidental fail-closed). When Seawall cannot be asked in time, ``fail_closed`` decides.
"""

from __future__ import annotations

import logging
from io import BytesIO
from typing import Any

from synapse.module_api import NOT_SPAM, EventBase, ModuleApi
from synapse.module_api.errors import Codes, ConfigError

from seawall_synapse import config
from seawall_synapse.enforcement import Enforcer
from seawall_synapse.seawall_client import SeawallClient, SeawallError, plain
from seawall_synapse.webhook import WebhookResource

logger = logging.getLogger(__name__)

#: What a spam-checker callback returns: NOT_SPAM, or an error code with extra fields for the client.
Outcome = Any
MAX_REASON_CHARS = 500


class SeawallModule:
    def __init__(self, settings: config.Settings, api: ModuleApi) -> None:
        self._settings = settings
        self._api = api
        self._seawall = SeawallClient(api, settings)
        api.register_spam_checker_callbacks(
            check_event_for_spam=self.check_event_for_spam,
            check_media_file_for_spam=self.check_media_file_for_spam,
        )
        key = settings.webhook_key
        if key is not None:
            api.register_web_resource(settings.webhook_path, WebhookResource(key, Enforcer(api, settings)))

    @staticmethod
    def parse_config(raw: dict[str, Any] | None) -> config.Settings:
        """Checked when Synapse reads homeserver.yaml, so a wrong setting stops it at start-up."""
        try:
            return config.parse(raw)
        except config.SettingError as exc:
            raise ConfigError(f"seawall_synapse: {exc}") from None

    async def check_event_for_spam(self, event: EventBase) -> Outcome:
        try:
            if event.type not in self._settings.event_types or event.sender == self._settings.notice_user:
                return NOT_SPAM
            body = event.content.get("body")
            if not isinstance(body, str) or not body.strip():
                return NOT_SPAM  # encrypted or empty: nothing Seawall could read
            item = await self._seawall.check_text(content_id=event.event_id, account_id=event.sender, text=body,
                                                  context=plain(event.get_dict()))
            return self._outcome(item)
        except SeawallError as exc:
            return self._unavailable(f"event {event.event_id}", exc)
        except Exception as exc:  # never let an exception refuse a message by accident
            logger.exception("Seawall check of %s failed", getattr(event, "event_id", "?"))
            return self._unavailable("event", exc)

    async def check_media_file_for_spam(self, file_wrapper: Any, file_info: Any) -> Outcome:
        try:
            if not self._settings.check_media or file_info.thumbnail is not None:
                return NOT_SPAM  # thumbnails are made from an original that was checked
            if file_info.url_cache:
                content_id = f"synapse-url-preview:{file_info.file_id}"
            elif file_info.server_name:
                content_id = f"synapse-remote:{file_info.server_name}/{file_info.file_id}"
            else:
                content_id = f"mxc://{self._api.server_name}/{file_info.file_id}"
            buf = BytesIO()
            await file_wrapper.write_chunks_to(buf.write)
            item = await self._seawall.check_media(content_id=content_id, data=buf.getvalue(), context={
                "server_name": file_info.server_name or self._api.server_name, "file_id": file_info.file_id,
                "url_cache": bool(file_info.url_cache)})
            return self._outcome(item)
        except SeawallError as exc:
            return self._unavailable("media", exc)
        except Exception as exc:
            logger.exception("Seawall check of media failed")
            return self._unavailable("media", exc)

    def _outcome(self, item: dict[str, Any]) -> Outcome:
        verdict = item.get("verdict")  # None while Seawall processes it in the background (video)
        if verdict not in self._settings.reject_verdicts:
            return NOT_SPAM
        reasons = "; ".join(str(r) for r in item.get("reasons") or [])[:MAX_REASON_CHARS]
        return Codes.FORBIDDEN, {"org.seawall.verdict": verdict, "org.seawall.reason": reasons,
                                 "org.seawall.item_id": item.get("id")}

    def _unavailable(self, what: str, exc: Exception) -> Outcome:
        mode = "refusing" if self._settings.fail_closed else "allowing"
        logger.warning("Seawall could not check %s (%s); %s it", what, exc, mode)
        if not self._settings.fail_closed:
            return NOT_SPAM
        return Codes.FORBIDDEN, {"org.seawall.reason": "the content check is unavailable; try again later"}
