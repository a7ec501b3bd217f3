"""The module's settings, checked when Synapse loads its configuration so a mistake stops it at start-up."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

DEFAULT_EVENT_TYPES = ("m.room.message", "m.sticker")


class SettingError(ValueError):
    """A setting is missing or wrong; the module turns it into Synapse's ConfigError."""


@dataclass(frozen=True)
class Settings:
    seawall_url: str
    api_key: str
    timeout_s: float = 1.0
    media_timeout_s: float = 10.0
    fail_closed: bool = False
    keep_content: bool = True
    check_media: bool = True
    event_types: tuple[str, ...] = DEFAULT_EVENT_TYPES
    reject_verdicts: tuple[str, ...] = ("block",)
    webhook_path: str = "/_seawall/webhook"
    webhook_secret: str | None = None
    synapse_url: str = "http://127.0.0.1:8008"
    admin_token: str | None = None
    admin_token_path: str | None = None
    admin_timeout_s: float = 10.0
    notice_user: str | None = None
    permanent_suspension: str = "deactivate"

    @property
    def items_url(self) -> str:
        return self.seawall_url.rstrip("/") + "/v1/items"

    def admin_bearer(self) -> str | None:
        """The admin token, read from ``admin_token_path`` at each use so it can be rotated without a restart."""
        if self.admin_token_path is not None:
            with open(self.admin_token_path, encoding="utf-8") as fh:
                return fh.read().strip() or None
        return self.admin_token

    @property
    def webhook_key(self) -> bytes | None:
        """The raw HMAC key of the Standard Webhooks secret (``whsec_<base64>``)."""
        if self.webhook_secret is None:
            return None
        return base64.b64decode(self.webhook_secret.removeprefix("whsec_"))


def _url(value: Any, name: str) -> str:
    if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc:
        raise SettingError(f"{name}: must be an http(s) URL, e.g. http://127.0.0.1:8000")
    return value.rstrip("/")


def _seconds(value: Any, name: str, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 60:
        raise SettingError(f"{name}: must be a number of seconds between 0 and 60")
    return float(value)


def _flag(value: Any, name: str, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise SettingError(f"{name}: must be true or false")
    return value


def _words(value: Any, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    if value is None:
        return default
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise SettingError(f"{name}: must be a list of strings")
    return tuple(value)


def _optional_str(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise SettingError(f"{name}: must be a non-empty string")
    return value


def parse(raw: dict[str, Any] | None) -> Settings:
    """Settings from the ``config:`` block of the module in ``homeserver.yaml``; SettingError if wrong."""
    raw = dict(raw or {})
    known = set(Settings.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise SettingError(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    api_key = _optional_str(raw.get("api_key"), "api_key")
    if api_key is None:
        raise SettingError("api_key: is required (a Seawall API key with the submitter role)")
    verdicts = _words(raw.get("reject_verdicts"), "reject_verdicts", ("block",))
    bad = [v for v in verdicts if v not in ("block", "review", "label")]
    if bad:
        raise SettingError(f"reject_verdicts: {', '.join(bad)} is not one of block, review, label")
    secret = _optional_str(raw.get("webhook_secret"), "webhook_secret")
    if secret is not None:
        try:
            key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except (binascii.Error, ValueError):
            raise SettingError("webhook_secret: must be whsec_ followed by base64, as Seawall shows it") from None
        if len(key) < 16:
            raise SettingError("webhook_secret: too short; use the secret Seawall generated for the webhook")
    path = raw.get("webhook_path", "/_seawall/webhook")
    if not isinstance(path, str) or not path.startswith("/") or path.startswith("/_matrix/"):
        raise SettingError("webhook_path: must be an absolute path outside /_matrix/, e.g. /_seawall/webhook")
    permanent = raw.get("permanent_suspension", "deactivate")
    if permanent not in ("deactivate", "suspend"):
        raise SettingError("permanent_suspension: must be deactivate or suspend")
    return Settings(
        seawall_url=_url(raw.get("seawall_url"), "seawall_url"),
        api_key=api_key,
        timeout_s=_seconds(raw.get("timeout_s"), "timeout_s", 1.0),
        media_timeout_s=_seconds(raw.get("media_timeout_s"), "media_timeout_s", 10.0),
        fail_closed=_flag(raw.get("fail_closed"), "fail_closed", False),
        keep_content=_flag(raw.get("keep_content"), "keep_content", True),
        check_media=_flag(raw.get("check_media"), "check_media", True),
        event_types=_words(raw.get("event_types"), "event_types", DEFAULT_EVENT_TYPES),
        reject_verdicts=verdicts,
        webhook_path=path,
        webhook_secret=secret,
        synapse_url=_url(raw.get("synapse_url", "http://127.0.0.1:8008"), "synapse_url"),
        admin_token=_optional_str(raw.get("admin_token"), "admin_token"),
        admin_token_path=_optional_str(raw.get("admin_token_path"), "admin_token_path"),
        admin_timeout_s=_seconds(raw.get("admin_timeout_s"), "admin_timeout_s", 10.0),
        notice_user=_optional_str(raw.get("notice_user"), "notice_user"),
        permanent_suspension=permanent,
    )
