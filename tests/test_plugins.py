"""The plugin registry: built-ins through the entry-point road, duplicates refused, a broken plugin loud
(or, by setting, a degraded start reported by /healthz), open event and content types, and the listings."""

from __future__ import annotations

import json
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from seawall import plugins
from seawall.api.app import create_app
from seawall.composition import build_engine
from seawall.config import Settings
from seawall.plugins import (
    ENTRY_POINT_GROUP,
    EXTENSION_POINTS,
    DuplicateRegistration,
    PluginError,
    Registry,
    load_registry,
    plugin_entry_points,
)

from .cli_runner import run_cli
from .conftest import auth
from .processes import seawall_env

BROKEN = EntryPoint("broken-fixture", "tests.plugin_fixtures:broken", ENTRY_POINT_GROUP)


def test_builtins_come_through_the_entry_point_like_any_plugin() -> None:
    reg = load_registry()
    pdq = reg.registrations[("signal_type", "pdq")]
    assert pdq.plugin == "builtin" and pdq.package.startswith("seawall")
    assert {r.kind for r in reg.registrations.values()} == set(EXTENSION_POINTS)
    # every kind listed in the docs has an add_ method on the registry
    kinds = {"signal_type": "add_signal_type", "content_type": "add_content_type",
             "hashlist_format": "add_hashlist_format", "exchange": "add_exchange", "action": "add_action",
             "webhook_event": "add_event_type", "connector": "add_connector"}
    assert set(kinds) == set(EXTENSION_POINTS) and all(hasattr(Registry, m) for m in kinds.values())
    assert [ep.value for ep in plugin_entry_points()][:1] in ([], ["seawall.builtin:register"])


def test_a_name_registered_twice_is_refused_naming_both_plugins() -> None:
    with pytest.raises(PluginError) as exc:
        load_registry("tests.plugin_fixtures:duplicate_md5")
    assert "'md5'" in exc.value.message and "'builtin'" in exc.value.message
    assert "tests.plugin_fixtures:duplicate_md5" in exc.value.message
    assert exc.value.code == "plugin_duplicate"
    reg = Registry()
    reg.add_event_type("a.b", "first")
    with pytest.raises(DuplicateRegistration):
        reg.add_event_type("a.b", "again")
    assert reg.event_types == {"a.b": "first"}


def test_a_failing_plugin_stops_start_up_with_its_name() -> None:
    with pytest.raises(PluginError) as exc:
        load_registry(eps=[BROKEN])
    assert "broken-fixture" in exc.value.message and "model file is missing" in exc.value.message
    missing = EntryPoint("gone", "no_such_module_for_seawall:register", ENTRY_POINT_GROUP)
    with pytest.raises(PluginError, match="'gone'"):
        load_registry(eps=[missing])


def test_degraded_start_leaves_the_plugin_out_and_healthz_says_so(tmp_path: Path) -> None:
    reg = load_registry(eps=[BROKEN], degraded=True)
    assert "fixture.half_registered" not in reg.event_types  # the failed plugin's registrations are undone
    assert [f.plugin for f in reg.failures] == ["broken-fixture"]
    engine = build_engine(Settings(data_dir=tmp_path), reg=reg)
    try:
        admin = engine.api_keys.create("admin", "t")[0]
        with TestClient(create_app(engine=engine, follow_writes=False)) as client:
            health = client.get("/healthz").json()
            assert health["status"] == "degraded"
            assert [r["plugin"] for r in health["reasons"] if r["code"] == "plugin_failed"] == ["broken-fixture"]
            listing = client.get("/v1/plugins", headers=auth(admin)).json()
            assert listing["failed"][0]["plugin"] == "broken-fixture"
            assert 'seawall_degraded{reason="plugin_failed"} 1.0' in client.get("/metrics").text
    finally:
        engine.close()


def test_plugins_endpoint_lists_what_is_loaded(client: TestClient, keys: dict[str, str]) -> None:
    assert client.get("/v1/plugins", headers=auth(keys["submitter"])).status_code == 403
    body = client.get("/v1/plugins", headers=auth(keys["admin"])).json()
    rows = {(e["kind"], e["name"]): e for e in body["extensions"]}
    assert rows[("action", "block")]["plugin"] == "builtin"
    assert ("webhook_event", "item.removed") in rows and ("content_type", "video") in rows
    assert {p["name"] for p in body["plugins"]} == {"builtin"} and body["failed"] == []
    assert client.get("/healthz").json()["status"] == "ok"


def test_open_event_and_content_types(tmp_path: Path) -> None:
    """A plugin's event type is subscribable (and an unknown one still refused); its content type is
    accepted by the upload API while an unregistered one gets a 422 naming the known ones."""
    from seawall.signals.sha256 import Sha256Signal

    class AudioDigest(Sha256Signal):
        name = "audio_sha256"
        content_types = ("audio",)

    def plugin(reg: Registry) -> None:
        reg.add_event_type("fixture.audio_flagged", "an audio item was flagged")
        reg.add_content_type("audio", "sound files")
        reg.add_signal_type(AudioDigest())

    reg = load_registry(eps=[])
    reg.load("fixture", plugin)
    engine = build_engine(Settings(data_dir=tmp_path, webhook_allow_hosts="127.0.0.1"), reg=reg)
    try:
        admin = engine.api_keys.create("admin", "t")[0]
        with TestClient(create_app(engine=engine, follow_writes=False)) as client:
            ok = client.post("/v1/webhooks", headers=auth(admin),
                             json={"url": "http://127.0.0.1:9/x", "event_types": ["fixture.audio_flagged"]})
            assert ok.status_code == 201, ok.text
            bad = client.post("/v1/webhooks", headers=auth(admin),
                              json={"url": "http://127.0.0.1:9/x", "event_types": ["fixture.nope"]})
            assert bad.status_code == 422 and bad.json()["code"] == "unknown_event_type"
            types = {t["type"] for t in client.get("/v1/webhooks/event-types", headers=auth(admin)).json()}
            assert "fixture.audio_flagged" in types and "item.verdict" in types
            up = client.post("/v1/items", headers=auth(admin), data={"content_id": "a1", "content_type": "audio"},
                             files={"file": ("a.ogg", b"generated audio stand-in", "audio/ogg")})
            assert up.status_code == 200, up.text
            assert [s["type"] for s in up.json()["signals"]] == ["audio_sha256"]
            refused = client.post("/v1/items", headers=auth(admin), data={"content_id": "a2", "content_type": "midi"},
                                  files={"file": ("a.mid", b"x", "audio/midi")})
            assert refused.status_code == 422 and refused.json()["code"] == "invalid_content_type"
            assert "audio" in refused.json()["message"]
    finally:
        engine.close()


def test_cli_lists_plugins_and_refuses_a_broken_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = seawall_env(tmp_path, SEAWALL_PLUGINS="tests.plugin_fixtures:broken")
    monkeypatch.setattr(plugins, "_registry", None)  # loaded afresh, as a new process would
    proc = run_cli(["plugins", "--json"], env)
    assert proc.returncode == 2 and "tests.plugin_fixtures:broken" in proc.stderr, proc.stderr
    env["SEAWALL_PLUGINS_DEGRADED"] = "true"
    monkeypatch.setattr(plugins, "_registry", None)
    proc = run_cli(["plugins", "--json"], env)
    assert proc.returncode == 0, proc.stderr
    body = json.loads(proc.stdout)
    assert body["failed"][0]["plugin"] == "tests.plugin_fixtures:broken"
    assert {"kind": "signal_type", "name": "pdq"}.items() <= next(
        e for e in body["extensions"] if e["name"] == "pdq").items()
