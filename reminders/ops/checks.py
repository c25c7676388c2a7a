"""Is each part reachable? One function per part, answering "ok" or why not, with any
password taken out: `/healthz` shows the answer to the public, `reminders doctor` to the
operator (with how to fix it)."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

import redis
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from reminders import store
from reminders.config import Settings

# A check must answer before a load balancer (or a person at a terminal) gives up on it.
TIMEOUT = 2.0
_DEFAULT_PORTS = {"amqp": 5672, "amqps": 5671}
_CREDENTIALS = re.compile(r"(://)[^/@\s]+@")


def database(settings: Settings) -> str:
    try:
        with store.transaction(settings.database_url) as db:
            db.execute(text("SELECT 1"))
    except Exception as exc:  # whatever stops the check is the answer
        return "unreachable: " + reason(exc, settings)
    return "ok"


def schema(settings: Settings) -> str:
    """The database's migration against this code's latest, without migrating anything."""
    head = ScriptDirectory(str(store.MIGRATIONS)).get_current_head()
    engine = create_engine(settings.database_url, **_connect_timeout(settings.database_url))
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    except Exception as exc:  # whatever stops the check is the answer
        return "unreachable: " + reason(exc, settings)
    finally:
        engine.dispose()
    if current == head:
        return "ok"
    if current is None:
        return f"empty: no tables yet (this code's schema is {head})"
    return f"at migration {current}, this code's latest is {head}"


def _connect_timeout(url: str) -> dict[str, object]:
    if url.startswith("postgresql"):
        return {"connect_args": {"connect_timeout": int(TIMEOUT) or 1}}
    return {}


def broker(settings: Settings) -> str:
    if settings.broker_url is None:
        # celeryconfig puts the embedded (kombu filesystem) broker's queue here.
        return _broker_folder(settings.state_dir / "broker")
    url = urlsplit(settings.broker_url)
    try:
        if url.scheme in ("redis", "rediss"):
            _ping_redis(settings.broker_url)
        else:
            _connect(url.hostname, url.port or _DEFAULT_PORTS.get(url.scheme))
    except (redis.RedisError, OSError, ValueError) as exc:
        return "unreachable: " + reason(exc, settings)
    return "ok"


def _ping_redis(url: str) -> None:
    client = redis.Redis.from_url(url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)
    with client:
        client.ping()


def _connect(host: str | None, port: int | None) -> None:
    if not host or not port:
        raise ValueError("the broker URL names no host and port to check")
    socket.create_connection((host, port), timeout=TIMEOUT).close()


def _broker_folder(folder: Path) -> str:
    if not folder.is_dir():
        return f"the embedded broker's folder {folder} does not exist (the worker creates it)"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"the embedded broker's folder {folder} is not writable"
    return "ok"


def reason(exc: BaseException, settings: Settings) -> str:
    """The error's first line, with any credentials taken out."""
    cause = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error
    lines = str(cause).strip().splitlines()
    said = f"{type(cause).__name__}: {lines[0] if lines else ''}".rstrip(": ")
    said = _CREDENTIALS.sub(r"\1***@", said)
    for secret in _secrets(settings):
        said = said.replace(secret, "***")
    return said[:300]


def _secrets(settings: Settings) -> Iterable[str]:
    try:
        database_password = make_url(settings.database_url).password
    except Exception:  # an unparsable URL has no password we could name
        database_password = None
    broker_password = urlsplit(settings.broker_url).password if settings.broker_url else None
    found = (
        database_password,
        broker_password,
        settings.twilio_auth_token,
        settings.smtp_password,
        settings.secret_key,
    )
    return [str(secret) for secret in found if secret]
