"""Console users, password sign-in with back-off (see ``throttle``), and server-side sessions.

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

from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from seawall.errors import Conflict, Forbidden, InvalidInput, NotFound
from seawall.password_hashing import hasher, profile_name
from seawall.review.audit import record
from seawall.review.throttle import AddressThrottle, backoff_seconds, device_matches, device_token
from seawall.store.db import Database
from seawall.store.tables import ConsoleSessionRow, ConsoleUserRow, utcnow

#: Ordered from least to most trusted: a role may do everything the roles before it may.
ROLES: tuple[str, ...] = ("reviewer", "senior", "admin")
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
SESSION_LIFETIME = timedelta(hours=8)
MIN_PASSWORD = 10

#: Verified against when the username is unknown, so response time does not reveal which names exist;
#: one per hashing profile, so it costs what a real password of that profile costs.
_dummy_hash: dict[str, str] = {}


def _dummy() -> str:
    """Made on first use, not at import: an argon2 hash costs half a second that light commands never need."""
    name = profile_name()
    if name not in _dummy_hash:
        _dummy_hash[name] = hasher().hash(secrets.token_hex(16))
    return _dummy_hash[name]


def aware(dt: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything Seawall stores is UTC."""
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def csrf_for(token: str) -> str:
    return hmac.new(token.encode("utf-8"), b"seawall-console-csrf", hashlib.sha256).hexdigest()


#: How media is shielded until a reveal. There is deliberately no "off": seeing a piece unshielded is
#: always a per-item, audited reveal. ``grey`` (greyscale only, no blur) is the lightest shield and
#: needs an admin's consent per user, for people whose work needs detail at a glance.
SHIELDS: dict[str, str] = {"blur": "Blur and greyscale (default)", "heavy": "Heavy blur, greyscale and darkened",
                           "grey": "Greyscale only (needs an admin's consent)"}


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    id: int
    username: str
    role: str
    shield: str = "blur"
    light_shield_allowed: bool = False

    def has(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)

    @property
    def effective_shield(self) -> str:
        """The stored preference, unless consent for the light shield was withdrawn since."""
        if self.shield == "grey" and not self.light_shield_allowed:
            return "blur"
        return self.shield if self.shield in SHIELDS else "blur"


class LoginFailed(Exception):
    """Wrong name or password, or sign-in is backing off; the message is safe to show."""

    def __init__(self, message: str, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _count_failure(s: Session, user_id: int) -> int:
    """Add one failed sign-in to the account's count in the database itself, and return the new count.

    SQLite reads the account before this transaction takes its write lock, so two failures at once (a
    distributed attack from many addresses) read one count; adding to what each read lost one of them.
    """
    stmt = (update(ConsoleUserRow).where(ConsoleUserRow.id == user_id)
            .values(failed_logins=ConsoleUserRow.failed_logins + 1).returning(ConsoleUserRow.failed_logins)
            .execution_options(synchronize_session=False))
    return int(s.execute(stmt).scalar_one())


class ConsoleUsers:
    def __init__(self, db: Database, *, free_failures: int = MAX_FAILURES,
                 backoff_max_seconds: float = LOCKOUT.total_seconds()) -> None:
        self.db = db
        self.free_failures = free_failures
        self.backoff_max_seconds = backoff_max_seconds
        self.addresses = AddressThrottle(free_failures, backoff_max_seconds)

    def create(self, username: str, password: str, role: str, *, actor: str = "system") -> ConsoleUser:
        if role not in ROLES:
            raise InvalidInput(f"role: must be one of {', '.join(ROLES)}", code="invalid_role")
        username = username.strip()
        if not username or len(username) > 100 or not username.isprintable():
            raise InvalidInput("username: 1 to 100 printable characters", code="invalid_username")
        if len(password) < MIN_PASSWORD:
            raise InvalidInput(f"password: at least {MIN_PASSWORD} characters", code="weak_password")
        try:
            with self.db.session() as s:
                row = ConsoleUserRow(username=username, password_hash=hasher().hash(password), role=role,
                                     failed_logins=0, created_at=utcnow())
                s.add(row)
                s.flush()
                record(s, actor, "user.create", "user", username, {"role": role})
                return ConsoleUser(row.id, row.username, row.role)
        except IntegrityError as exc:
            # the unique username decides between concurrent identical creations: one wins, the rest are told
            raise Conflict(f"user {username!r} already exists", code="user_exists") from exc

    def login(self, username: str, password: str, *, client: str = "unknown",
              device: str | None = None) -> tuple[ConsoleUser, str]:
        """Check a password and open a session; returns the user and the session token for the cookie.

        ``client`` is the caller's address (its failures back off that address); ``device`` the
        device cookie, which exempts a known browser from the account's own back-off.
        """
        wait = self.addresses.wait(client)
        if wait > 0:
            raise LoginFailed(f"too many failed sign-ins from this address: temporarily locked, "
                              f"try again in {int(wait) + 1} s", retry_after=wait)
        now = utcnow()
        failure: str | None = None  # raised after the commit, so the failure counter and audit row persist
        retry_after = 0.0
        with self.db.session() as s:
            row = s.scalar(select(ConsoleUserRow).where(ConsoleUserRow.username == username).with_for_update())
            known_device = row is not None and device_matches(device, row.username, row.password_hash)
            if row is None:
                with contextlib.suppress(VerificationError, InvalidHashError):
                    hasher().verify(_dummy(), password)
                record(s, username[:100] or "-", "login.failed", "user", username[:100],
                       {"why": "unknown user", "client": client})
                failure = "wrong username or password"
            elif row.disabled_at is not None:
                record(s, row.username, "login.refused", "user", row.username, {"why": "disabled"})
                failure = "this account is disabled; ask an administrator"
            elif row.locked_until is not None and aware(row.locked_until) > now and not known_device:
                retry_after = (aware(row.locked_until) - now).total_seconds()
                record(s, row.username, "login.refused", "user", row.username, {"why": "backing off", "client": client})
                failure = (f"this account is temporarily locked after repeated failures; try again in "
                           f"{int(retry_after) + 1} s")
            else:
                try:
                    hasher().verify(row.password_hash, password)
                except (VerificationError, InvalidHashError):
                    failures = _count_failure(s, row.id)
                    detail: dict[str, object] = {"failures": failures, "client": client}
                    pause = backoff_seconds(failures, self.free_failures, self.backoff_max_seconds)
                    if pause > 0:
                        row.locked_until = now + timedelta(seconds=pause)
                        detail["backing_off_until"] = row.locked_until.isoformat()
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
                user = ConsoleUser(row.id, row.username, row.role, row.shield, row.light_shield_allowed)
        if failure is not None:
            if failure == "wrong username or password":
                self.addresses.failed(client)
            raise LoginFailed(failure, retry_after=retry_after)
        return user, token

    def device_cookie(self, user: ConsoleUser) -> str:
        """The device cookie for a browser that just signed in as ``user`` (see ``throttle``)."""
        with self.db.session() as s:
            password_hash = s.scalar(select(ConsoleUserRow.password_hash).where(ConsoleUserRow.id == user.id))
        return device_token(user.username, password_hash or "")

    def resolve(self, token: str | None) -> ConsoleUser | None:
        """The user a session cookie stands for, or None if it is unknown, forged or expired."""
        if not token or len(token) > 200:
            return None
        with self.db.session() as s:
            found = s.execute(
                select(ConsoleSessionRow.expires_at, ConsoleUserRow.id, ConsoleUserRow.username, ConsoleUserRow.role,
                       ConsoleUserRow.shield, ConsoleUserRow.light_shield_allowed, ConsoleUserRow.disabled_at)
                .join(ConsoleUserRow, ConsoleUserRow.id == ConsoleSessionRow.user_id)
                .where(ConsoleSessionRow.token_hash == _token_hash(token))
            ).first()
        if found is None or aware(found.expires_at) <= utcnow() or found.disabled_at is not None:
            return None
        return ConsoleUser(found.id, found.username, found.role, found.shield, found.light_shield_allowed)

    def by_name(self, username: str) -> ConsoleUser | None:
        """An enabled console user by name: whom a platform's review tool acts for through the case API."""
        with self.db.session() as s:
            row = s.scalar(select(ConsoleUserRow).where(ConsoleUserRow.username == username[:100]))
        if row is None or row.disabled_at is not None:
            return None
        return ConsoleUser(row.id, row.username, row.role, row.shield, row.light_shield_allowed)

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

    # --- administration (admin pages) ---------------------------------------------------------
    def list_users(self) -> list[dict[str, object]]:
        with self.db.session() as s:
            return [{"id": r.id, "username": r.username, "role": r.role, "shield": r.shield,
                     "light_shield_allowed": r.light_shield_allowed, "disabled": r.disabled_at is not None,
                     "locked": r.locked_until is not None and aware(r.locked_until) > utcnow(),
                     "created_at": aware(r.created_at)}
                    for r in s.scalars(select(ConsoleUserRow).order_by(ConsoleUserRow.username))]

    def update(self, username: str, *, actor: ConsoleUser, role: str | None = None, disabled: bool | None = None,
               light_shield_allowed: bool | None = None) -> None:
        """An admin changes a user's role, access or shield consent; disabling ends their sessions at once."""
        if role is not None and role not in ROLES:
            raise InvalidInput(f"role: must be one of {', '.join(ROLES)}", code="invalid_role")
        if username == actor.username and (disabled or (role is not None and role != actor.role)):
            raise InvalidInput("you cannot disable yourself or change your own role", code="self_change")
        with self.db.session() as s:
            row = s.scalar(select(ConsoleUserRow).where(ConsoleUserRow.username == username).with_for_update())
            if row is None:
                raise NotFound(f"no console user {username!r}", code="user_not_found")
            changes: dict[str, object] = {}
            if role is not None and role != row.role:
                row.role = changes["role"] = role
            if disabled is not None and disabled != (row.disabled_at is not None):
                row.disabled_at = utcnow() if disabled else None
                changes["disabled"] = disabled
                if disabled:
                    s.execute(delete(ConsoleSessionRow).where(ConsoleSessionRow.user_id == row.id))
            if light_shield_allowed is not None and light_shield_allowed != row.light_shield_allowed:
                row.light_shield_allowed = changes["light_shield_allowed"] = light_shield_allowed
            if changes:
                record(s, actor.username, "user.update", "user", username, changes)

    def set_shield(self, user: ConsoleUser, shield: str) -> None:
        """A reviewer's own shield preference; the light one only with an admin's consent."""
        if shield not in SHIELDS:
            raise InvalidInput(f"shield: one of {', '.join(SHIELDS)}", code="invalid_shield")
        with self.db.session() as s:
            row = s.get(ConsoleUserRow, user.id)
            if row is None:
                raise NotFound("no such user", code="user_not_found")
            if shield == "grey" and not row.light_shield_allowed:
                raise Forbidden("the greyscale-only shield needs an admin's consent", code="forbidden")
            row.shield = shield
            record(s, user.username, "user.shield", "user", user.username, {"shield": shield})
