"""The Synapse module's settings and webhook signature check, which need no Synapse to run.

The signature test signs with Seawall's own webhook sender, so the module and Seawall agree on the
Standard Webhooks scheme byte for byte.
"""

from __future__ import annotations

import base64
import json
import sys
import time
from typing import Any

import pytest

from seawall.webhooks.delivery import sign_headers
from tests.synapse_server import SHIM_SRC

sys.path.insert(0, str(SHIM_SRC))

from seawall_synapse import config
from seawall_synapse.signature import BadSignature, verify

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


def test_settings_defaults_and_key() -> None:
    s = config.parse({"seawall_url": "http://127.0.0.1:8000/", "api_key": "sw_x", "webhook_secret": SECRET})
    assert s.items_url == "http://127.0.0.1:8000/v1/items"
    assert (s.timeout_s, s.fail_closed, s.keep_content, s.reject_verdicts) == (1.0, False, True, ("block",))
    assert s.webhook_key == b"k" * 32 and s.admin_bearer() is None


@pytest.mark.parametrize("raw, message", [
    ({"api_key": "k"}, "seawall_url"),
    ({"seawall_url": "ftp://x", "api_key": "k"}, "seawall_url"),
    ({"seawall_url": "http://x"}, "api_key"),
    ({"seawall_url": "http://x", "api_key": "k", "timeout_s": 0}, "timeout_s"),
    ({"seawall_url": "http://x", "api_key": "k", "fail_closed": "yes"}, "fail_closed"),
    ({"seawall_url": "http://x", "api_key": "k", "reject_verdicts": ["allow"]}, "reject_verdicts"),
    ({"seawall_url": "http://x", "api_key": "k", "webhook_secret": "whsec_!!"}, "webhook_secret"),
    ({"seawall_url": "http://x", "api_key": "k", "webhook_path": "/_matrix/x"}, "webhook_path"),
    ({"seawall_url": "http://x", "api_key": "k", "permanent_suspension": "ban"}, "permanent_suspension"),
    ({"seawall_url": "http://x", "api_key": "k", "timeout": 1}, "unknown setting"),
])
def test_wrong_settings_are_refused_by_name(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(config.SettingError, match=message):
        config.parse(raw)


def test_signature_from_seawalls_sender_verifies_and_tampering_does_not() -> None:
    key = config.parse({"seawall_url": "http://x", "api_key": "k", "webhook_secret": SECRET}).webhook_key
    assert key is not None
    body = json.dumps({"type": "item.removed", "data": {"content_id": "$e"}})
    h = sign_headers(SECRET, "msg_1", body)
    verify(key, h["webhook-id"], h["webhook-timestamp"], h["webhook-signature"], body.encode())
    # several signatures (secret rotation): any valid one is enough
    verify(key, "msg_1", h["webhook-timestamp"], "v1,AAAA " + h["webhook-signature"], body.encode())
    for mid, ts, sig, data in [
        ("msg_2", h["webhook-timestamp"], h["webhook-signature"], body),          # another id
        ("msg_1", h["webhook-timestamp"], h["webhook-signature"], body + " "),   # another body
        ("msg_1", h["webhook-timestamp"], "v2," + h["webhook-signature"][3:], body),
        ("msg_1", None, h["webhook-signature"], body),
    ]:
        with pytest.raises(BadSignature):
            verify(key, mid, ts, sig, data.encode())
    old = sign_headers(SECRET, "msg_1", body, at=time.time() - 3600)
    with pytest.raises(BadSignature, match="too old"):
        verify(key, "msg_1", old["webhook-timestamp"], old["webhook-signature"], body.encode())
