"""One process of a store leads retro-matching: it alone runs background passes and holds past items' forms.

``seawall serve --workers 2`` runs two processes on one store; each used to run the background pass and
hold its own copy of the forms. Two engines on one store in this process stand for two such processes
(``flock`` locks belong to open files, so they conflict within a process too); a child process that is
killed stands for a crashed leader. Images are generated.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from seawall.composition import build_engine
from seawall.config import Settings
from seawall.engine import Engine
from tests.conftest import encode, textured_image
from tests.processes import seawall_env

RULES = """\
rules:
  - id: known-material
    when: {match: {bank_kind: block}}
    then: [block]
"""


@pytest.fixture
def second(settings: Settings, engine: Engine) -> Iterator[Engine]:
    """Another engine on the same store and data directory, built after ``engine``."""
    eng = build_engine(settings, migrate=False)
    try:
        yield eng
    finally:
        eng.close()


def _past_image_and_entry(engine: Engine) -> str:
    engine.rules.save(RULES, created_by="test")
    image = encode(textured_image(5))
    past = engine.submit(engine.content("image", data=image), content_id="past-1")
    assert past.verdict.verdict == "allow"
    engine.banks.create("known")
    engine.add_entries_from_content("known", engine.content("image", data=image), labels=[], note="",
                                    source="test", added_by="test")
    return past.id


def test_one_engine_leads_and_holds_the_forms(engine: Engine, second: Engine) -> None:
    assert engine.retro.lead.leads()
    assert engine.retro.lead.leads()  # kept, not taken again
    assert not second.retro.lead.leads()
    item_id = _past_image_and_entry(engine)
    # a pass asked for in the process that does not lead scans the stored signals and holds nothing
    report = second.retro.run()
    assert report.skipped is None and report.items_matched == 1
    assert second.retro.held_forms is None
    assert second.items.get(item_id).verdict.actions[0].type == "remove"
    # the leader finds the work done (the pair is recorded) and holds the forms of past items
    engine.add_entries_from_content("known", engine.content("image", data=encode(textured_image(6))),
                                    labels=[], note="", source="test", added_by="test")
    assert engine.retro.run().items_matched == 0
    held = engine.retro.held_forms
    assert held is not None and len(held) >= 1


def test_a_pass_is_refused_while_another_runs(engine: Engine, second: Engine) -> None:
    with engine.retro.lead.one_pass() as mine:
        assert mine
        report = second.retro.run()
        assert report.skipped is not None and "another" in report.skipped
    assert second.retro.run().skipped is None


def test_the_lead_passes_on_when_its_holder_closes(engine: Engine, second: Engine) -> None:
    assert engine.retro.lead.leads()
    assert not second.retro.lead.leads()
    engine.retro.lead.close()
    assert second.retro.lead.leads()
    assert not engine.retro.lead.leads()


@pytest.mark.slow  # fresh interpreters or thousands of generated inputs; `make test` runs it
def test_a_killed_leader_leaves_the_lead_free(settings: Settings, engine: Engine) -> None:
    url = str(settings.database_url or "")
    env = seawall_env(settings.data_dir, **({"SEAWALL_DATABASE_URL": url} if url.startswith("postgresql") else {}))
    code = ("import sys, time\n"
            "from seawall.composition import build_engine\n"
            "from seawall.config import Settings\n"
            "eng = build_engine(Settings(), migrate=False)\n"
            "assert eng.retro.lead.leads()\n"
            "print('leading', flush=True)\n"
            "time.sleep(600)\n")
    child = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "leading"
        assert not engine.retro.lead.leads()
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        deadline = time.monotonic() + 30  # PostgreSQL ends the dead session's backend on its own schedule
        while not engine.retro.lead.leads():
            assert time.monotonic() < deadline, "the lead was not freed after its holder was killed"
            time.sleep(0.1)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
