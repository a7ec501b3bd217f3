"""The ``seawall`` command as operators script it: real files, exit codes, stdout apart from stderr.

Commands run in the test process (tests/cli_runner.py); one test runs the installed entry point as its
own process, the way ``make run`` scripts it.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from seawall.password_hashing import PROFILE_ENV
from seawall.signals.pdq.signal import pdq_from_pixels

from .cli_runner import CliResult, run_cli
from .conftest import encode, fresh_sqlite_store, textured_image

#: The bank life cycle is about import, export and matching, not image size: a quarter of 640x480 pixels.
SMALL_IMAGE = (320, 240)


def run(args: list[str], env: dict[str, str], *, ok: bool = True, stdin: str | None = None) -> CliResult:
    proc = run_cli(args, env, input=stdin)
    if ok:
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc


def run_process(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "seawall", *args], env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment of a ``make run`` data directory: a store at the newest schema (``make run`` runs ``seawall
    db upgrade`` first), copied from this process's migrated template instead of migrating it in every command
    (tests/test_rules.py's CLI test starts from an empty data directory)."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("SEAWALL_") or k == PROFILE_ENV}
    e["SEAWALL_DATA_DIR"] = str(fresh_sqlite_store(tmp_path / "data"))
    e["COLUMNS"] = "200"
    return e


def test_hash_text_and_json(tmp_path: Path, env: dict[str, str]) -> None:
    img = textured_image(1)
    path = tmp_path / "a.png"
    path.write_bytes(encode(img, "PNG"))
    other = tmp_path / "b.bin"
    other.write_bytes(b"not an image")
    out = run(["hash", str(path)], env).stdout.splitlines()
    import hashlib

    import numpy as np

    expected_pdq, quality = pdq_from_pixels(np.asarray(img))
    assert out == [
        f"md5 {hashlib.md5(path.read_bytes()).hexdigest()}",
        f"sha256 {hashlib.sha256(path.read_bytes()).hexdigest()}",
        f"pdq {expected_pdq}",
    ]
    lines = run(["hash", "--json", str(path), str(other)], env).stdout.splitlines()
    first, second = (json.loads(x) for x in lines)
    assert first["path"] == str(path)
    assert {"type": "pdq", "value": expected_pdq, "quality": quality} in first["signals"]
    assert [s["type"] for s in second["signals"]] == ["md5", "sha256"]


def test_hash_errors_exit_nonzero(tmp_path: Path, env: dict[str, str]) -> None:
    proc = run(["hash", str(tmp_path / "missing.jpg")], env, ok=False)
    assert proc.returncode != 0 and "no such file" in proc.stderr
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(encode(textured_image(2), "JPEG")[:300])
    proc = run(["hash", str(broken)], env, ok=False)
    assert proc.returncode != 0 and "corrupt_image" in proc.stderr


def test_bank_lifecycle_import_export_match(tmp_path: Path, env: dict[str, str]) -> None:
    run(["db", "upgrade"], env)
    run(["bank", "create", "tvec", "--label", "behaviour:recruitment", "--threshold", "pdq=31"], env)
    proc = run(["bank", "create", "tvec"], env, ok=False)
    assert proc.returncode == 2 and "bank_exists" in proc.stderr
    img = textured_image(4, SMALL_IMAGE)
    known = tmp_path / "known.jpg"
    known.write_bytes(encode(img, quality=95))
    import numpy as np

    pdq, _ = pdq_from_pixels(np.asarray(img))
    hashes = [secrets.token_hex(32) for _ in range(200)] + [pdq]
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"pdq {h}\n" for h in hashes) + "pdq zzz\n")
    proc = run(["bank", "import", "tvec", str(listing)], env, ok=False)
    assert proc.returncode == 3, proc.stderr  # some lines rejected, the rest imported
    assert "added 201" in proc.stdout and "rejected 1" in proc.stdout and "line 202" in proc.stderr
    proc = run(["bank", "import", "tvec", str(listing)], env, ok=False)
    assert "added 0" in proc.stdout and "already present 201" in proc.stdout
    exported = tmp_path / "out.txt"
    run(["bank", "export", "tvec", "--output", str(exported)], env)
    assert sorted(exported.read_text().splitlines()) == sorted(f"pdq {h}" for h in hashes)
    listing_json = json.loads(run(["bank", "list", "--json"], env).stdout)
    assert listing_json[0]["name"] == "tvec" and listing_json[0]["entry_count"] == 201
    rotated = tmp_path / "rotated.jpg"
    rotated.write_bytes(encode(img.rotate(270, expand=True), quality=70))
    unrelated = tmp_path / "unrelated.jpg"
    unrelated.write_bytes(encode(textured_image(77, SMALL_IMAGE)))
    out = run(["match", "--json", str(rotated), str(unrelated)], env).stdout.splitlines()
    verdicts = [json.loads(x) for x in out]
    assert verdicts[0]["verdict"] == "block" and verdicts[0]["matches"][0]["labels"] == ["behaviour:recruitment"]
    assert verdicts[1]["verdict"] == "allow"
    proc = run(["bank", "import", "ghost", str(listing)], env, ok=False)
    assert proc.returncode == 2 and "bank_not_found" in proc.stderr


def test_apikey_create_prints_key_last(env: dict[str, str]) -> None:
    proc = run_process(["apikey", "create", "--role", "submitter", "--name", "forum"], env)  # a process of its own
    assert proc.returncode == 0, proc.stderr
    key = proc.stdout.strip().splitlines()[-1]
    assert key.startswith("sw_") and len(key) > 40
    listed = run(["apikey", "list"], env).stdout
    assert key.split("_")[1] in listed and "submitter" in listed
    assert key.split("_", 2)[2] not in listed  # secrets are never shown again
    proc = run(["apikey", "create", "--role", "god"], env, ok=False)
    assert proc.returncode == 2 and "invalid_role" in proc.stderr


def test_demo_seed_blocks_copies_and_allows_others(tmp_path: Path, env: dict[str, str]) -> None:
    run(["demo", "seed"], env)
    run(["demo", "seed"], env)  # idempotent
    demo = Path(env["SEAWALL_DATA_DIR"]) / "demo"
    out = run(["match", *(str(demo / n) for n in ("known.jpg", "known-reencoded.jpg", "known-rotated.jpg",
                                                  "unrelated.jpg", "news.jpg"))], env).stdout.splitlines()
    verdicts = [line.split("\t")[0] for line in out]
    assert verdicts == ["block", "block", "block", "allow", "allow"]
    assert "demo-allow" in out[4]
