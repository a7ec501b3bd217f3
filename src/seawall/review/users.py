"""Console users, password sign-in with lockout, and server-side sessions.

Sessions live in the store (not in a signed cookie) so signing out, expiry and locking an account
take effect at once on every node. The cookie carries a random token; the store keeps its SHA-256.
The CSRF token is derived from the session token, so it needs no storage and cannot be guessed
without the HttpOnly cookie.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from seawall.errors import InvalidInput
from seawall.review.audit import record
from seawall.store.db import Database
from seawall.store.tables import ConsoleSessionRow, ConsoleUserRow, utcnow

#: Ordered from least to most trusted: a role may do everything the roles before it may.
ROLES: tuple[str, ...] = ("reviewer", "senior", "admin")
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
SESSION_LIFETIME = timedelta(hours=8)
MIN_PASSWORD = 10

_hasher = PasswordHasher()
#: Verified against when the username is unknown, so response time does not reveal which names exist.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


def aware(dt: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything Seawall stores is UTC."""
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def csrf_for(token: str) -> str:
    return hmac.new(token.encode("utf-8"), b"seawall-console-csrf", hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    id: int
    username: str
    role: str

    def has(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


class LoginFailed(Exception):
    """Wrong name or password, or the account is locked; the message is safe to show."""


class ConsoleUsers:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, username: str, password: str, role: str) -> ConsoleUser:
        if role not in ROLES:
            raise InvalidInput(f"role: must be one of {', '.join(ROLES)}", code="invalid_role")
        username = username.strip()
        if not username or len(username) > 100 or not username.isprintable():
            raise InvalidInput("username: 1 to 100 printable characters", code="invalid_username")
        if len(password) < MIN_PASSWORD:
            raise InvalidInput(f"password: at least {MIN_PASSWORD} characters", code="weak_password")
        try:
            with self.db.session() as s:
                row = ConsoleUserRow(username=username, password_hash=_hasher.hash(password), role=role,
                                     failed_logins=0, created_at=utcnow())
                s.add(row)
                s.flush()
                record(s, "system", "user.create", "user", username, {"role": role})
                return ConsoleUser(row.id, row.username, row.role)
        except IntegrityError as exc:
            raise InvalidInput(f"user {username!r} already exists", code="user_exists") from exc

    def login(self, username: str, password: str) -> tuple[ConsoleUser, str]:
        """Check a password and open a session; returns the user and the session token for the cookie."""
        now = utcnow()
        failure: str | None = None  # raised after the commit, so the failure counter and audit row persist
        with self.db.session() as s:
            row = s.scalar(select(ConsoleUserRow).where(ConsoleUserRow.username == username).with_for_update())
            if row is None:
                with contextlib.suppress(VerificationError, InvalidHashError):
                    _hasher.verify(_DUMMY_HASH, password)
                record(s, username[:100] or "-", "login.failed", "user", username[:100], {"why": "unknown user"})
                failure = "wrong username or password"
            elif row.locked_until is not None and aware(row.locked_until) > now:
                record(s, row.username, "login.refused", "user", row.username, {"why": "locked"})
                failure = "this account is locked after repeated failures; try again later"
            else:
                try:
                    _hasher.verify(row.password_hash, password)
                except (VerificationError, InvalidHashError):
                    row.failed_logins += 1
                    detail: dict[str, object] = {"failures": row.failed_logins}
                    if row.failed_logins >= MAX_FAILURES:
                        row.locked_until = now + LOCKOUT
                        row.failed_logins = 0
                        detail["locked_until"] = row.locked_until.isoformat()
                    record(s, row.username, "login.failed", "user", row.username, detail)
                    failure = "wrong username or password"
            if failure is None:
                assert row is not None
                row.failed_logins = 0
                row.locked_until = None
                token = secrets.token_urlsafe(32)
                s.add(ConsoleSessionRow(token_hash=_token_hash(token), user_id=row.id, created_at=now,
                                        expires_at=now + SESSION_LIFETIME))
                record(s, row.username, "login", "user", row.username)
                user = ConsoleUser(row.id, row.username, row.role)
        if failure is not None:
            raise LoginFailed(failure)
        return user, token

    def resolve(self, token: str | None) -> ConsoleUser | None:
        """The user a session cookie stands for, or None if it is unknown, forged or expired."""
        if not token or len(token) > 200:
            return None
        with self.db.session() as s:
            found = s.execute(
                select(ConsoleSessionRow.expires_at, ConsoleUserRow.id, ConsoleUserRow.username, ConsoleUserRow.role)
                .join(ConsoleUserRow, ConsoleUserRow.id == ConsoleSessionRow.user_id)
                .where(ConsoleSessionRow.token_hash == _token_hash(token))
            ).first()
        if found is None or aware(found.expires_at) <= utcnow():
            return None
        return ConsoleUser(found.id, found.username, found.role)

    def logout(self, token: str, user: ConsoleUser) -> None:
        with self.db.session() as s:
            s.execute(delete(ConsoleSessionRow).where(ConsoleSessionRow.token_hash == _token_hash(token)))
            record(s, user.username, "logout", "user", user.username)

    def expire_sessions(self, username: str) -> None:
        """End every session of a user now (tests, and an operator who suspects a stolen cookie)."""
        with self.db.session() as s:
            uid = s.scalar(select(ConsoleUserRow.id).where(ConsoleUserRow.username == username))
            s.execute(update(ConsoleSessionRow).where(ConsoleSessionRow.user_id == uid)
                      .values(expires_at=utcnow() - timedelta(seconds=1)))
