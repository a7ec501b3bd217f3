"""The example plugin package (examples/seawall-example-plugin) as a third party ships it.

Installed the way ``pip`` leaves a package (its code plus a ``.dist-info`` with the entry points of
its own ``pyproject.toml``) on the path of a real ``seawall plugins`` process, it is listed under its
name and package; loaded into an engine, its exchange fills a bank, an upload of its content type
matches through its signal's ``casefold`` variant, its action fires from a rule and its event reaches
a real webhook receiver.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from seawall.api.app import create_app
from seawall.banks.service import EntryInput
from seawall.composition import build_engine
from seawall.config import Settings
from seawall.plugins import ENTRY_POINT_GROUP, load_registry

from .conftest import auth
from .processes import seawall_env
from .webhook_receiver import Receiver

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "seawall-example-plugin"


def install_like_pip(target: Path) -> None:
    """Copy the package and write the ``.dist-info`` pip would, from the example's own pyproject."""
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    shutil.copytree(EXAMPLE / "src" / "seawall_example_plugin", target / "seawall_example_plugin")
    info = target / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    eps = project["entry-points"][ENTRY_POINT_GROUP]
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()))


@pytest.mark.slow  # a fresh seawall process discovers the plugin
def test_installed_example_is_listed_by_seawall_plugins(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    install_like_pip(site)
    env = seawall_env(tmp_path / "data")
    env["PYTHONPATH"] = os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])])
    proc = subprocess.run([sys.executable, "-m", "seawall", "plugins", "--json"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    body = json.loads(proc.stdout)
    assert {"name": "example", "package": "seawall-example-plugin 0.1.0"} in body["plugins"]
    mine = {(e["kind"], e["name"]) for e in body["extensions"] if e["plugin"] == "example"}
    assert mine == {("content_type", "example_note"), ("signal_type", "example_crc32"), ("action", "notify_partner"),
                    ("webhook_event", "example.partner_notified"), ("exchange", "example-local-file")}


@pytest.fixture
def example_on_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.syspath_prepend(str(EXAMPLE / "src"))
    yield
    for name in [m for m in sys.modules if m.startswith("seawall_example_plugin")]:
        del sys.modules[name]


RULES = """\
version: 1
rules:
  - id: example-signal
    description: A note matching the example signal is blocked and the partner told.
    when:
      match: {signal_type: example_crc32}
    then:
      - block
      - notify_partner: {partner: acme}
"""


def test_example_plugin_end_to_end(example_on_path: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "partner-feed.txt"
    from seawall_example_plugin.signal import crc32_hex

    shared.write_text(f"# generated feed\nexample_crc32 {crc32_hex('hello partner, generated note')}\n")
    monkeypatch.setenv("SEAWALL_EXAMPLE_EXCHANGE_FILE", str(shared))
    reg = load_registry(eps=[EntryPoint("example", "seawall_example_plugin:register", ENTRY_POINT_GROUP)])
    receiver = Receiver()
    engine = build_engine(Settings(data_dir=tmp_path / "data", webhook_allow_hosts="127.0.0.1",
                                   webhook_poll_seconds=0.05), reg=reg)
    try:
        # the exchange fills a bank, resuming from its checkpoint
        engine.banks.create("partner")
        pages = list(reg.exchange("example-local-file").pull(None))  # type: ignore[attr-defined]
        for page in pages:
            for e in page.entries:
                engine.add_entry("partner", EntryInput(e.signal_type, e.value, [], source="example-local-file"),
                                 added_by="exchange")
        assert list(reg.exchange("example-local-file").pull(pages[-1].checkpoint)) == []  # type: ignore[attr-defined]
        engine.rules.save(RULES, created_by="test")
        admin = engine.api_keys.create("admin", "t")[0]
        with TestClient(create_app(engine=engine, follow_writes=False)) as client:
            hook = client.post("/v1/webhooks", headers=auth(admin), json={
                "url": receiver.url(), "event_types": ["example.partner_notified"]}).json()
            receiver.secret = hook["secret"]
            engine.refresh()
            up = client.post("/v1/items", headers=auth(admin),
                             data={"content_id": "n1", "content_type": "example_note"},
                             files={"file": ("n.txt", b"HELLO Partner, generated NOTE", "text/plain")})
            assert up.status_code == 200, up.text
            item = up.json()
            assert item["verdict"] == "block"
            assert [(m["signal_type"], m["variant"]) for m in item["matches"]] == [("example_crc32", "casefold")]
            assert [a.get("partner") for a in item["actions"] if a["type"] == "notify_partner"] == ["acme"]
            deadline = time.monotonic() + 20
            while not receiver.processed and time.monotonic() < deadline:
                time.sleep(0.05)
            events = list(receiver.processed.values())
            assert [e["type"] for e in events] == ["example.partner_notified"]
            assert events[0]["data"]["partner"] == "acme" and events[0]["data"]["item_id"] == item["id"]
    finally:
        engine.close()
        receiver.stop()
