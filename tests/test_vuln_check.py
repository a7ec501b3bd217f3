"""scripts/vuln-check: the lock file against the vendored advisory snapshot, offline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "vuln-check"

SYNTHETIC = """\
id: TEST-2026-1
details: A made-up flaw for the test.
aliases: [CVE-0000-0000]
affected:
- package: {name: Example_Lib, ecosystem: PyPI}
  ranges:
  - type: ECOSYSTEM
    events:
    - introduced: '1.0'
    - fixed: '1.4.2'
"""


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60)


def test_locked_pins_pass_the_vendored_snapshot() -> None:
    r = run()
    assert r.returncode == 0, r.stdout + r.stderr
    assert " 0 affected" in r.stdout and "advisories read" in r.stdout


def test_a_known_vulnerable_pin_fails(tmp_path: Path) -> None:
    advisories = tmp_path / "advisories" / "example-lib"
    advisories.mkdir(parents=True)
    (advisories / "TEST-2026-1.yaml").write_text(SYNTHETIC)
    lock = tmp_path / "requirements.lock"
    for version, code in (("1.4.1", 1), ("1.0", 1), ("1.4.2", 0), ("0.9", 0)):
        lock.write_text(f"example-lib=={version} \\\n    --hash=sha256:{'0' * 64}\nother==1.0\n")
        r = run("--lock", str(lock), "--advisories", str(tmp_path / "advisories"))
        assert r.returncode == code, (version, r.stdout, r.stderr)
        if code:
            assert f"VULNERABLE example-lib=={version}: TEST-2026-1 (CVE-0000-0000) fixed in 1.4.2" in r.stdout


def test_a_real_advisory_in_the_snapshot_is_found(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text("PyYAML==5.0\n")  # before the yaml.load fix (PYSEC-2018-49)
    r = run("--lock", str(lock))
    assert r.returncode == 1 and "PYSEC-2018-49" in r.stdout


def test_unusable_input_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty.lock").write_text("# nothing pinned\n")
    assert run("--lock", str(tmp_path / "missing.lock")).returncode == 2
    assert run("--lock", str(tmp_path / "empty.lock")).returncode == 2
