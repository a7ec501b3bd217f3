"""argon2 cost: Seawall defaults to the strong profile; the test runs' cheap profile only changes new hashes."""

from __future__ import annotations

import pytest
from argon2 import profiles

from seawall.password_hashing import PROFILE_ENV, hasher, profile_name


def test_seawall_defaults_to_the_strong_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROFILE_ENV, raising=False)
    assert profile_name() == "strong"
    made = hasher().hash("correct horse battery")
    assert "m=65536,t=3,p=4" in made
    assert hasher().check_needs_rehash(made) is False
    params = profiles.RFC_9106_LOW_MEMORY
    assert (hasher().memory_cost, hasher().time_cost, hasher().parallelism) == (
        params.memory_cost, params.time_cost, params.parallelism)


def test_cheapest_profile_still_verifies_strong_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROFILE_ENV, "strong")
    strong = hasher().hash("correct horse battery")
    monkeypatch.setenv(PROFILE_ENV, "cheapest")
    assert hasher().verify(strong, "correct horse battery")
    cheap = hasher().hash("correct horse battery")
    assert "m=8,t=1,p=1" in cheap and cheap != strong
    monkeypatch.setenv(PROFILE_ENV, "strong")
    assert hasher().verify(cheap, "correct horse battery")  # a test store stays readable


def test_unknown_profile_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROFILE_ENV, "fast")
    with pytest.raises(ValueError, match="SEAWALL_PASSWORD_HASH_PROFILE: must be one of strong, cheapest"):
        hasher()
