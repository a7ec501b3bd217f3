"""The argon2 hasher for console passwords and API-key secrets, with its cost chosen in one place.

Seawall stores secrets with argon2 at RFC 9106's low-memory parameters (64 MiB, three passes): a
stolen database should be slow to attack. That cost is paid on every key creation, console user and
first sign-in, which is what makes test fixtures slow, so ``SEAWALL_PASSWORD_HASH_PROFILE=cheapest``
selects argon2's minimum parameters for test runs. Verification reads the parameters from the stored
hash, so hashes made under either profile verify under both; only new hashes follow the profile.
"""

from __future__ import annotations

import os
import threading

from argon2 import Parameters, PasswordHasher, profiles

PROFILE_ENV = "SEAWALL_PASSWORD_HASH_PROFILE"
DEFAULT_PROFILE = "strong"
#: ``strong`` is for every deployment; ``cheapest`` only for tests (it protects nothing).
PROFILES: dict[str, Parameters] = {"strong": profiles.RFC_9106_LOW_MEMORY, "cheapest": profiles.CHEAPEST}

_hashers: dict[str, PasswordHasher] = {}
_lock = threading.Lock()


def profile_name() -> str:
    """The profile named by ``SEAWALL_PASSWORD_HASH_PROFILE`` (read on each call, so tests may switch it)."""
    name = os.environ.get(PROFILE_ENV, "").strip().lower() or DEFAULT_PROFILE
    if name not in PROFILES:
        raise ValueError(f"{PROFILE_ENV}: must be one of {', '.join(PROFILES)}, not {name!r}")
    return name


def hasher() -> PasswordHasher:
    """The argon2 hasher for the current profile, made once per profile and process."""
    name = profile_name()
    with _lock:
        if name not in _hashers:
            _hashers[name] = PasswordHasher.from_parameters(PROFILES[name])
        return _hashers[name]
