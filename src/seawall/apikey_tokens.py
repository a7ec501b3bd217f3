"""Minting API keys: the token shown once, and the digest that is all the store keeps of its secret.

Kept apart from :mod:`seawall.apikeys` (checking keys, with its cache and legacy argon2 hashes) so that
``seawall apikey create`` can mint and store a key without importing the ORM tables or argon2: the
command answers in a fraction of the time, and both paths make keys the same way.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from seawall.errors import InvalidInput

ROLES: tuple[str, ...] = ("admin", "submitter", "reviewer")
#: Prefix of a stored secret digest; anything else stored is a legacy argon2 hash.
DIGEST_PREFIX = "sha256$"


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str
    role: str
    name: str


@dataclass(frozen=True, slots=True)
class MintedKey:
    """A new key: ``token`` goes to the caller and is never stored; ``secret_hash`` is what is stored."""

    token: str
    secret_hash: str
    principal: Principal


def secret_digest(secret: str) -> str:
    """How a key's secret is stored: enough for 256 random bits (see :mod:`seawall.apikeys`)."""
    return DIGEST_PREFIX + hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()


def mint(role: str, name: str = "") -> MintedKey:
    """A fresh key for ``role``; refuses a role Seawall does not know."""
    if role not in ROLES:
        raise InvalidInput(f"role: must be one of {', '.join(ROLES)}", code="invalid_role")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return MintedKey(f"sw_{key_id}_{secret}", secret_digest(secret), Principal(key_id, role, name))
