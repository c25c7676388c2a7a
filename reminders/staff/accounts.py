"""Staff accounts (argon2 password hashes, login throttling) and API tokens (stored hashed)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from reminders import store
from reminders.config import Settings
from reminders.models import ApiToken, User

ROLES = ("staff", "admin")
# After this many failures in a row each attempt waits longer; past LOCK_AFTER the account locks.
FREE_ATTEMPTS = 3
LOCK_AFTER = 8
LOCK_FOR = timedelta(minutes=15)
_hasher = PasswordHasher()


class AccountError(Exception):
    """Refused: the message is safe to show to the person (it never says which part was wrong)."""


@dataclass(frozen=True)
class StaffUser:
    id: int
    name: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def add_user(settings: Settings, name: str, role: str, password: str, now: datetime) -> StaffUser:
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < 10:
        raise AccountError("the password needs at least 10 characters")
    with store.transaction(settings.database_url) as db:
        if db.scalar(select(User).where(User.name == name)) is not None:
            raise AccountError(f"user {name!r} already exists")
        user = User(name=name, role=role, password_hash=_hasher.hash(password), created_at=now)
        user.failed_logins = 0
        db.add(user)
        db.flush()
        return StaffUser(user.id, user.name, user.role)


def login_delay(failed_logins: int) -> float:
    """Seconds to wait before answering the next attempt: grows after a few failures."""
    extra = failed_logins - FREE_ATTEMPTS
    return 0.0 if extra < 0 else min(0.25 * 2**extra, 8.0)


def authenticate(settings: Settings, name: str, password: str, now: datetime) -> StaffUser:
    """The user, or AccountError; failures count towards a temporary lock."""
    with store.transaction(settings.database_url) as db:
        user = db.scalar(select(User).where(User.name == name).with_for_update())
        refusal = _check_password(user, password, now)
        if user is not None and refusal is None:
            user.failed_logins, user.locked_until = 0, None
            return StaffUser(user.id, user.name, user.role)
    # Raised after the commit, so the failure counts.
    raise AccountError(refusal or "wrong name or password")


def _check_password(user: User | None, password: str, now: datetime) -> str | None:
    if user is None:
        _hasher.hash(password)  # the same work as a real check: no timing hint
        return "wrong name or password"
    if user.locked_until is not None and user.locked_until > now:
        return "too many failed attempts: try again in a few minutes"
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        user.failed_logins += 1
        if user.failed_logins >= LOCK_AFTER:
            user.locked_until, user.failed_logins = now + LOCK_FOR, 0
        return "wrong name or password"
    return None


def failed_logins(settings: Settings, name: str) -> int:
    with store.transaction(settings.database_url) as db:
        user = db.scalar(select(User).where(User.name == name))
        return user.failed_logins if user is not None else 0


def find_user(settings: Settings, user_id: int) -> StaffUser | None:
    with store.transaction(settings.database_url) as db:
        user = db.get(User, user_id)
        return StaffUser(user.id, user.name, user.role) if user is not None else None


def list_users(settings: Settings) -> list[StaffUser]:
    with store.transaction(settings.database_url) as db:
        return [
            StaffUser(u.id, u.name, u.role) for u in db.scalars(select(User).order_by(User.name))
        ]


def _digest(token: str) -> str:
    # Tokens are long random strings, so a fast hash is enough (no dictionary to guess from).
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(settings: Settings, name: str, now: datetime) -> str:
    """A new bearer token; shown once, stored only as its hash."""
    token = "rmd_" + secrets.token_urlsafe(32)
    with store.transaction(settings.database_url) as db:
        if db.scalar(select(ApiToken).where(ApiToken.name == name)) is not None:
            raise AccountError(f"a token named {name!r} already exists")
        db.add(ApiToken(name=name, token_hash=_digest(token), created_at=now))
    return token


def revoke_token(settings: Settings, name: str, now: datetime) -> None:
    with store.transaction(settings.database_url) as db:
        token = db.scalar(select(ApiToken).where(ApiToken.name == name))
        if token is None:
            raise AccountError(f"no token named {name!r}")
        token.revoked_at = now


def token_name(settings: Settings, token: str) -> str | None:
    """The name of a valid, unrevoked token, or None."""
    with store.transaction(settings.database_url) as db:
        found = db.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token)))
        if found is None or found.revoked_at is not None:
            return None
        return found.name
