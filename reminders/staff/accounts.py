"""Staff accounts (argon2 password hashes), their sessions, sign-in throttling, API tokens.

Throttling slows the guesser, never the account. Failed sign-ins are counted for three
guessers: the client address, the address with the name it typed, and the name from
anywhere. The first two refuse further attempts for a growing while; the name alone only
makes each answer a little slower, so guessing from one address at a colleague's name
never stops that colleague signing in from another. Names are counted as typed, whether
or not such a user exists, and an unknown name costs the same argon2 check as a known one:
neither the answer nor its timing says which names exist.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DB

from reminders import store
from reminders.config import Settings
from reminders.models import ApiToken, LoginThrottle, StaffSession, User

ROLES = ("staff", "admin")
MIN_PASSWORD = 10
SESSION_LENGTH = timedelta(hours=12)
WRONG = "wrong name or password"
_hasher = PasswordHasher()


class AccountError(Exception):
    """Refused: the message is safe to show to the person (it never says which part was wrong)."""


class Throttled(AccountError):
    """Too many failures from this client: refused without checking the password."""

    def __init__(self, wait: timedelta) -> None:
        self.wait = wait
        minutes = max(1, -(-int(wait.total_seconds()) // 60))
        super().__init__(
            f"too many failed sign-ins from here: try again in {minutes} minute"
            + "s" * (minutes != 1)
        )


@dataclass(frozen=True)
class Limit:
    """`free` failures cost nothing; then the wait starts at `first` and doubles with each
    further failure, up to `longest`."""

    free: int
    first: timedelta
    longest: timedelta

    def wait_after(self, failures: int) -> timedelta:
        over = failures - self.free
        if over < 0:
            return timedelta()
        return min(self.first * (1 << min(over, 30)), self.longest)


# One person mistyping their own password: five tries, then a second, two, four...
BY_ADDRESS_AND_NAME = Limit(free=5, first=timedelta(seconds=1), longest=timedelta(minutes=15))
# One address trying many names (a desk shared by a few people mistyping now and then).
BY_ADDRESS = Limit(free=20, first=timedelta(seconds=1), longest=timedelta(minutes=15))
# One name from many addresses: answers slow down (at most two seconds), never a refusal.
BY_NAME = Limit(free=10, first=timedelta(milliseconds=100), longest=timedelta(seconds=2))
# Failures older than this are forgotten.
FORGET_AFTER = timedelta(hours=1)


@dataclass(frozen=True)
class StaffUser:
    id: int
    name: str
    role: str
    disabled: bool = False

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _view(user: User) -> StaffUser:
    return StaffUser(user.id, user.name, user.role, user.disabled_at is not None)


def add_user(settings: Settings, name: str, role: str, password: str, now: datetime) -> StaffUser:
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    _check_new_password(password)
    with store.transaction(settings.database_url) as db:
        if db.scalar(select(User).where(User.name == name)) is not None:
            raise AccountError(f"user {name!r} already exists")
        user = User(name=name, role=role, password_hash=_hasher.hash(password), created_at=now)
        db.add(user)
        db.flush()
        return _view(user)


def _check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password needs at least {MIN_PASSWORD} characters")


def folded(name: str) -> str:
    """A typed name as the throttles count it: 'Dana ' and 'dana' are one guess target."""
    return name.strip().casefold()[:100]


@cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def answer_delay(settings: Settings, name: str, now: datetime) -> float:
    """Seconds to wait before checking a password for `name`: the per-name slowdown."""
    with store.transaction(settings.database_url) as db:
        failures = _recent_failures(db, "", folded(name), now)
    return BY_NAME.wait_after(failures).total_seconds()


def authenticate(
    settings: Settings, name: str, password: str, address: str, now: datetime
) -> StaffUser:
    """The user, or AccountError (Throttled when this client must wait first)."""
    address = address[:64]
    key = folded(name)
    with store.transaction(settings.database_url) as db:
        _refuse_if_blocked(db, address, key, now)
        user = db.scalar(select(User).where(User.name == name))
        stored = (user.password_hash, _view(user)) if user is not None else None
    # The slow check runs outside any transaction: it must not hold the store's write lock.
    if not _password_matches(stored[0] if stored else _dummy_hash(), password) or not stored:
        with store.transaction(settings.database_url) as db:
            _count_failure(db, address, key, now)
        raise AccountError(WRONG)
    found = stored[1]
    if found.disabled:
        raise AccountError("this account is disabled: ask an administrator")
    with store.transaction(settings.database_url) as db:
        db.execute(
            delete(LoginThrottle).where(
                or_(
                    (LoginThrottle.address == address) & (LoginThrottle.user_name.in_(("", key))),
                    (LoginThrottle.address == "") & (LoginThrottle.user_name == key),
                )
            )
        )
    return found


def _password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _refuse_if_blocked(db: DB, address: str, key: str, now: datetime) -> None:
    rows = db.scalars(
        select(LoginThrottle).where(
            LoginThrottle.address == address, LoginThrottle.user_name.in_(("", key))
        )
    )
    waits = [r.blocked_until - now for r in rows if r.blocked_until and r.blocked_until > now]
    if waits:
        raise Throttled(max(waits))


def _recent_failures(db: DB, address: str, key: str, now: datetime) -> int:
    row = db.scalar(
        select(LoginThrottle).where(
            LoginThrottle.address == address, LoginThrottle.user_name == key
        )
    )
    if row is None or row.last_failure_at < now - FORGET_AFTER:
        return 0
    return row.failures


def _count_failure(db: DB, address: str, key: str, now: datetime) -> None:
    db.execute(delete(LoginThrottle).where(LoginThrottle.last_failure_at < now - FORGET_AFTER))
    for guesser, name, limit in (
        (address, key, BY_ADDRESS_AND_NAME),
        (address, "", BY_ADDRESS),
        ("", key, BY_NAME),
    ):
        row = _throttle_row(db, guesser, name, now)
        row.failures += 1
        row.last_failure_at = now
        if limit is not BY_NAME and (wait := limit.wait_after(row.failures)):
            row.blocked_until = now + wait


def _throttle_row(db: DB, address: str, name: str, now: datetime) -> LoginThrottle:
    def find() -> LoginThrottle | None:
        return db.scalar(
            select(LoginThrottle)
            .where(LoginThrottle.address == address, LoginThrottle.user_name == name)
            .with_for_update()
        )

    row = find()
    if row is not None:
        return row
    try:
        with db.begin_nested():
            row = LoginThrottle(address=address, user_name=name, failures=0, last_failure_at=now)
            db.add(row)
        return row
    except IntegrityError:  # another sign-in from the same guesser made it first
        found = find()
        assert found is not None
        return found


@dataclass(frozen=True)
class ThrottleView:
    id: int
    address: str
    user_name: str
    failures: int
    blocked_until: datetime | None


def throttles(settings: Settings, now: datetime) -> list[ThrottleView]:
    """Guessers with recent failures, the most failures first (the admin page's list)."""
    with store.transaction(settings.database_url) as db:
        rows = db.scalars(
            select(LoginThrottle)
            .where(LoginThrottle.last_failure_at >= now - FORGET_AFTER)
            .order_by(LoginThrottle.failures.desc(), LoginThrottle.id)
        )
        return [
            ThrottleView(
                r.id,
                r.address,
                r.user_name,
                r.failures,
                r.blocked_until if r.blocked_until and r.blocked_until > now else None,
            )
            for r in rows
        ]


def unlock(settings: Settings, name: str) -> int:
    """Forget every failure counted against `name` (from any address); how many were cleared."""
    with store.transaction(settings.database_url) as db:
        result = db.execute(delete(LoginThrottle).where(LoginThrottle.user_name == folded(name)))
        return int(result.rowcount)  # type: ignore[attr-defined]


def clear_throttle(settings: Settings, throttle_id: int) -> None:
    with store.transaction(settings.database_url) as db:
        db.execute(delete(LoginThrottle).where(LoginThrottle.id == throttle_id))


def _user_named(db: DB, name: str) -> User:
    user = db.scalar(select(User).where(User.name == name).with_for_update())
    if user is None:
        raise AccountError(f"no user {name!r}")
    return user


def set_disabled(settings: Settings, name: str, disabled: bool, now: datetime) -> StaffUser:
    """Disable (ending every session of the user at once) or enable a user."""
    with store.transaction(settings.database_url) as db:
        user = _user_named(db, name)
        if disabled and user.role == "admin" and user.disabled_at is None:
            others = db.scalar(
                select(User.id).where(
                    User.role == "admin", User.disabled_at.is_(None), User.id != user.id
                )
            )
            if others is None:
                raise AccountError(f"{name} is the only administrator left enabled")
        user.disabled_at = (user.disabled_at or now) if disabled else None
        if disabled:
            db.execute(delete(StaffSession).where(StaffSession.user_id == user.id))
        return _view(user)


def reset_password(settings: Settings, name: str, password: str, now: datetime) -> StaffUser:
    """A new password; every session of the user ends and their throttles are cleared."""
    _check_new_password(password)
    password_hash = _hasher.hash(password)
    with store.transaction(settings.database_url) as db:
        user = _user_named(db, name)
        user.password_hash = password_hash
        db.execute(delete(StaffSession).where(StaffSession.user_id == user.id))
        db.execute(delete(LoginThrottle).where(LoginThrottle.user_name == folded(name)))
        return _view(user)


def ensure_user(
    settings: Settings, name: str, role: str, password: str, now: datetime
) -> StaffUser:
    """The user with this role and password, enabled: added, or reset if it exists."""
    with store.transaction(settings.database_url) as db:
        exists = db.scalar(select(User.id).where(User.name == name)) is not None
    if not exists:
        return add_user(settings, name, role, password, now)
    set_disabled(settings, name, False, now)
    return reset_password(settings, name, password, now)


def start_session(settings: Settings, user: StaffUser, now: datetime) -> str:
    """A new session for a signed-in user: the random id for the cookie, stored hashed."""
    token = secrets.token_urlsafe(32)
    with store.transaction(settings.database_url) as db:
        db.execute(delete(StaffSession).where(StaffSession.expires_at <= now))
        db.add(
            StaffSession(
                token_hash=_digest(token),
                user_id=user.id,
                created_at=now,
                expires_at=now + SESSION_LENGTH,
            )
        )
    return token


def session_user(settings: Settings, token: str, now: datetime) -> StaffUser | None:
    """The user of a live session, or None (ended, expired, or the user disabled)."""
    with store.transaction(settings.database_url) as db:
        user = db.scalar(
            select(User)
            .join(StaffSession, StaffSession.user_id == User.id)
            .where(StaffSession.token_hash == _digest(token), StaffSession.expires_at > now)
        )
        if user is None or user.disabled_at is not None:
            return None
        return _view(user)


def end_session(settings: Settings, token: str) -> None:
    with store.transaction(settings.database_url) as db:
        db.execute(delete(StaffSession).where(StaffSession.token_hash == _digest(token)))


def list_users(settings: Settings) -> list[StaffUser]:
    with store.transaction(settings.database_url) as db:
        return [_view(u) for u in db.scalars(select(User).order_by(User.name))]


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
