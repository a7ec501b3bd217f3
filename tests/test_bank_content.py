"""Banking content as it is: a text or a file sent to a bank gets every signal it has, on both stores.

Python-threatexchange users bank a plain sentence directly; before this, a text had to be posted as an
item and its hashes copied, and a video sent as a file got only its digests.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from .cli_runner import CliResult, run_cli
from .conftest import auth
from .processes import seawall_env
from .test_vpdq import encode_video, render

BANKED = ("Join the caravan of the faithful tonight and bring your brothers with you to the old "
          "northern bridge before dawn")


def _bank(client: TestClient, admin: str, name: str = "tvec") -> None:
    assert client.post("/v1/banks", json={"name": name}, headers=auth(admin)).status_code == 201


def test_a_banked_text_gets_every_text_signal_and_blocks_quotes_of_it(client: TestClient,
                                                                     keys: dict[str, str]) -> None:
    admin, sub = keys["admin"], keys["submitter"]
    _bank(client, admin)
    r = client.post("/v1/banks/tvec/entries", json={"text": BANKED, "labels": ["behaviour:recruitment"]},
                    headers=auth(admin))
    assert r.status_code == 201, r.text
    types = {e["signal_type"] for e in r.json()["entries"]}
    assert {"text_sha256", "text_minhash", "text_fingerprint"} <= types, types
    assert all(e["labels"] == ["behaviour:recruitment"] for e in r.json()["entries"])
    again = client.post("/v1/banks/tvec/entries", json={"text": BANKED}, headers=auth(admin))
    assert again.status_code == 200 and not any(e["created"] for e in again.json()["entries"])

    quoted = f"Saw this posted in a channel today, reporting it: «{BANKED}». Anyone else seeing these?"
    hit = client.post("/v1/items", json={"content_id": "q1", "text": quoted}, headers=auth(sub))
    assert hit.status_code == 200 and hit.json()["verdict"] == "block", hit.json()
    other = client.post("/v1/items", json={"content_id": "o1", "text": "The bridge is closed for repairs "
                                           "until spring, the council said on Tuesday."}, headers=auth(sub))
    assert other.json()["verdict"] == "allow", other.json()


def test_bad_text_entries_are_refused_and_store_nothing(client: TestClient, keys: dict[str, str]) -> None:
    admin = keys["admin"]
    _bank(client, admin)
    for body, status in (({"text": ""}, 422), ({"text": BANKED, "extra": 1}, 422),
                         ({"text": "x" * (1024 * 1024 + 1)}, 413)):
        r = client.post("/v1/banks/tvec/entries", json=body, headers=auth(admin))
        assert r.status_code == status, (r.status_code, r.text[:200])
        assert r.json()["code"]
    assert client.get("/v1/banks/tvec/entries", headers=auth(admin)).json() == []
    r = client.post("/v1/banks/tvec/entries", json={"text": BANKED}, headers=auth(keys["reviewer"]))
    assert r.status_code == 403


def test_a_banked_video_file_gets_vpdq(client: TestClient, keys: dict[str, str], tmp_path: Path) -> None:
    admin = keys["admin"]
    _bank(client, admin)
    video = encode_video(render(5, seconds=4), via=tmp_path / "v.mp4")
    r = client.post("/v1/banks/tvec/entries", files={"file": ("clip.bin", video, "application/octet-stream")},
                    headers=auth(admin))
    assert r.status_code == 201, r.text
    types = {e["signal_type"] for e in r.json()["entries"]}
    assert {"vpdq", "md5", "sha256"} <= types, types


@pytest.mark.parametrize("how", ["text", "file"])
def test_cli_bank_add(how: str, tmp_path: Path) -> None:
    env = seawall_env(tmp_path / "data")

    def cli(*args: str) -> CliResult:
        return run_cli(args, env)

    assert cli("bank", "create", "tvec").returncode == 0
    if how == "text":
        proc = cli("bank", "add", "tvec", "--text", BANKED, "--label", "behaviour:recruitment")
        expected = "text_fingerprint"
    else:
        from .conftest import encode, textured_image

        path = tmp_path / "picture.jpg"
        path.write_bytes(encode(textured_image(7)))
        proc = cli("bank", "add", "tvec", "--file", str(path))
        expected = "pdq"
    assert proc.returncode == 0, proc.stderr
    assert f" {expected} " in proc.stdout, proc.stdout
    listed = cli("bank", "list", "--json")
    assert listed.returncode == 0 and '"tvec"' in listed.stdout
    both = cli("bank", "add", "tvec")
    assert both.returncode != 0 and "exactly one of --text or --file" in " ".join((both.stderr + both.stdout).split())
    missing = cli("bank", "add", "tvec", "--file", str(tmp_path / "nope.jpg"))
    assert missing.returncode != 0 and "no such file" in " ".join((missing.stderr + missing.stdout).split())
