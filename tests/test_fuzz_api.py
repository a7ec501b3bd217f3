"""Schemathesis over every operation of a live server, on SQLite and PostgreSQL: no server error, and
every response as the OpenAPI document declares it (status, body, error body).

A bounded run (a few examples per operation, boundary values included); ``make fuzz`` runs a longer
one. Both go through :mod:`tests.fuzz_api`, which confines the server and the fuzzer to a private
network namespace so no generated URL is ever contacted off this machine.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Examples per operation in the bounded run: enough for the boundary values of every parameter.
EXAMPLES = 8


@pytest.mark.timeout(600)
@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_every_operation_survives_schemathesis(database: str, tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    proc = subprocess.run([sys.executable, "-m", "tests.fuzz_api", "--database", database,
                           "--max-examples", str(EXAMPLES), "--seed", "2026", "--report", str(report)],
                          cwd=ROOT, capture_output=True, text=True, timeout=580)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-20_000:]
    suites = ET.parse(report).getroot()
    cases = suites.findall(".//testcase")
    failed = [c.get("name") for c in cases if c.find("failure") is not None or c.find("error") is not None]
    assert len(cases) >= 45, f"only {len(cases)} operations were fuzzed:\n{output[-5000:]}"
    assert not failed, failed
