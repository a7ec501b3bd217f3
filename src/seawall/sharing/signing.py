"""This instance's Ed25519 key: it signs every feed page, so partners know the hashes came from here.

The private key lives in the store (every API node of one deployment signs with the same key) and is
created on first use; the public key is what a partner pins when it subscribes. Canonical JSON (sorted
keys, no spaces, UTF-8) is what gets signed, so the subscriber can re-serialise and check it.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from sqlalchemy.exc import IntegrityError

from seawall.errors import InvalidInput
from seawall.store.db import Database
from seawall.store.tables import RuntimeFlagRow, utcnow

KEY_FLAG = "feed_signing_key"


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def public_key_from(text: str) -> Ed25519PublicKey:
    """A partner's public key as given at subscription: base64 (or hex) of the raw 32 bytes."""
    raw: bytes | None = None
    text = (text or "").strip()
    try:
        raw = bytes.fromhex(text) if len(text) == 64 else base64.b64decode(text, validate=True)
    except ValueError:
        raw = None
    if raw is None or len(raw) != 32:
        raise InvalidInput("public_key: the publisher's Ed25519 public key, base64 of 32 bytes",
                           code="invalid_public_key")
    return Ed25519PublicKey.from_public_bytes(raw)


def public_text(key: Ed25519PublicKey) -> str:
    return b64(key.public_bytes(Encoding.Raw, PublicFormat.Raw))


def verify(public_key: Ed25519PublicKey, signature: str, payload: Any) -> bool:
    try:
        public_key.verify(base64.b64decode(signature, validate=True), canonical(payload))
        return True
    except (InvalidSignature, ValueError):
        return False


def verify_bytes(public_key: Ed25519PublicKey, signature: str | bytes, payload: bytes) -> bool:
    """Whether ``signature`` (base64) is ``public_key``'s over exactly ``payload``."""
    try:
        public_key.verify(base64.b64decode(signature, validate=True), payload)
        return True
    except (InvalidSignature, ValueError):
        return False


class Signer:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._key: Ed25519PrivateKey | None = None

    def key(self) -> Ed25519PrivateKey:
        if self._key is None:
            with self.db.session() as s:
                row = s.get(RuntimeFlagRow, KEY_FLAG)
                stored = row.value.get("private") if row is not None and isinstance(row.value, dict) else None
            if stored is None:
                fresh = Ed25519PrivateKey.generate()
                raw = fresh.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
                try:
                    with self.db.session() as s:
                        s.add(RuntimeFlagRow(name=KEY_FLAG, value={"private": b64(raw)}, updated_by="feeds",
                                             updated_at=utcnow()))
                except IntegrityError:
                    pass  # another node created it first: use that one
                with self.db.session() as s:
                    row = s.get(RuntimeFlagRow, KEY_FLAG)
                    assert row is not None
                    stored = row.value["private"]
            self._key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(stored))
        return self._key

    def public(self) -> str:
        return public_text(self.key().public_key())

    def sign(self, payload: Any) -> str:
        return b64(self.key().sign(canonical(payload)))
