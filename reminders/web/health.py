"""`/healthz` for the load balancer and `/metrics` for Prometheus: public, and free of names.

Neither says anything about a patient: health names the failing part and why (never a
password), metrics carry only counts and timings labelled by channel, kind and status.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import redis
from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session as DB

from reminders import store
from reminders.config import CHANNELS, Settings
from reminders.models import WAITING, Message
from reminders.web.deps import now_of, settings_of
from reminders.web.schemas import HealthOut

router = APIRouter(tags=["operations"])

# A health check must answer before the load balancer gives up on it.
BROKER_TIMEOUT = 2.0
_DEFAULT_PORTS = {"amqp": 5672, "amqps": 5671}
_CREDENTIALS = re.compile(r"(://)[^/@\s]+@")

# Health


@router.get("/healthz", response_model=HealthOut, responses={503: {"model": HealthOut}})
def healthz(request: Request, response: Response) -> HealthOut:
    """200 when the database answers and the broker is reachable; 503 naming what is not."""
    settings = settings_of(request)
    health = HealthOut(status="ok", database=_database(settings), broker=_broker(settings))
    if health.database != "ok" or health.broker != "ok":
        health.status = "failing"
        response.status_code = 503
    return health


def _database(settings: Settings) -> str:
    try:
        with store.transaction(settings.database_url) as db:
            db.execute(text("SELECT 1"))
    except Exception as exc:  # whatever stops the check is the answer
        return "unreachable: " + _reason(exc, settings)
    return "ok"


def _broker(settings: Settings) -> str:
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
        return "unreachable: " + _reason(exc, settings)
    return "ok"


def _ping_redis(url: str) -> None:
    client = redis.Redis.from_url(
        url, socket_timeout=BROKER_TIMEOUT, socket_connect_timeout=BROKER_TIMEOUT
    )
    with client:
        client.ping()


def _connect(host: str | None, port: int | None) -> None:
    if not host or not port:
        raise ValueError("the broker URL names no host and port to check")
    socket.create_connection((host, port), timeout=BROKER_TIMEOUT).close()


def _broker_folder(folder: Path) -> str:
    if not folder.is_dir():
        return f"the embedded broker's folder {folder} does not exist (the worker creates it)"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"the embedded broker's folder {folder} is not writable"
    return "ok"


def _reason(exc: BaseException, settings: Settings) -> str:
    """The error's first line, with any credentials taken out: the body is public."""
    cause = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error
    lines = str(cause).strip().splitlines()
    reason = f"{type(cause).__name__}: {lines[0] if lines else ''}".rstrip(": ")
    reason = _CREDENTIALS.sub(r"\1***@", reason)
    for secret in _passwords(settings):
        reason = reason.replace(secret, "***")
    return reason[:300]


def _passwords(settings: Settings) -> Iterable[str]:
    try:
        database = make_url(settings.database_url).password
    except Exception:  # an unparsable URL has no password we could name
        database = None
    broker = urlsplit(settings.broker_url).password if settings.broker_url else None
    return [str(secret) for secret in (database, broker) if secret]


# Metrics

LATENCY_WINDOW = timedelta(hours=24)
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class PrometheusText(PlainTextResponse):
    media_type = "text/plain; version=0.0.4; charset=utf-8"


@router.get("/metrics", response_class=PrometheusText)
def metrics(request: Request) -> PrometheusText:
    """Prometheus text exposition (format 0.0.4)."""
    settings, now = settings_of(request), now_of(request)
    with store.transaction(settings.database_url) as db:
        lines = [*_message_counts(db), *_due_unsent(db, now), *_latency(db, now)]
    return PrometheusText("\n".join(lines) + "\n")


def _message_counts(db: DB) -> list[str]:
    columns = (Message.channel, Message.kind, Message.status)
    rows = db.execute(select(*columns, func.count()).group_by(*columns).order_by(*columns))
    samples = [
        _sample("reminders_messages", count, channel=channel, kind=kind, status=status)
        for channel, kind, status, count in rows
    ]
    help_text = "Messages in the store (the plan and the log) by channel, kind and status."
    return [*_header("reminders_messages", "gauge", help_text), *samples]


def _due_unsent(db: DB, now: datetime) -> list[str]:
    count, oldest = db.execute(
        select(func.count(Message.id), func.min(Message.due_at)).where(
            Message.status.in_(WAITING), Message.due_at <= now
        )
    ).one()
    lag = max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
    return [
        *_header("reminders_due_unsent", "gauge", "Planned or queued messages already due."),
        _sample("reminders_due_unsent", count),
        *_header(
            "reminders_oldest_due_lag_seconds",
            "gauge",
            "Seconds since the oldest due, unsent message fell due (0 when none is waiting).",
        ),
        _sample("reminders_oldest_due_lag_seconds", lag),
    ]


def _latency(db: DB, now: datetime) -> list[str]:
    """One histogram per channel, over the provider calls of the last 24 hours."""
    rows = db.execute(
        select(Message.channel, Message.provider_ms).where(
            Message.provider_ms.is_not(None), Message.attempted_at >= now - LATENCY_WINDOW
        )
    )
    seconds: dict[str, list[float]] = {channel: [] for channel in CHANNELS}
    for channel, provider_ms in rows:
        seconds.setdefault(channel, []).append(provider_ms / 1000)
    name = "reminders_provider_latency_seconds"
    help_text = (
        "Provider call latency of the sends attempted in the last 24 hours (the latest "
        "attempt of each message): a sliding window, so use histogram_quantile() on it "
        "directly, not on rate()."
    )
    lines = _header(name, "histogram", help_text)
    for channel, values in sorted(seconds.items()):
        lines += _histogram(name, channel, values)
    return lines


def _histogram(name: str, channel: str, values: list[float]) -> list[str]:
    buckets = [
        _sample(f"{name}_bucket", sum(v <= le for v in values), channel=channel, le=_number(le))
        for le in LATENCY_BUCKETS
    ]
    return [
        *buckets,
        _sample(f"{name}_bucket", len(values), channel=channel, le="+Inf"),
        _sample(f"{name}_sum", sum(values), channel=channel),
        _sample(f"{name}_count", len(values), channel=channel),
    ]


def _header(name: str, kind: str, help_text: str) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]


def _sample(name: str, value: float, **labels: str) -> str:
    if not labels:
        return f"{name} {_number(value)}"
    pairs = ",".join(f'{key}="{_label_value(text)}"' for key, text in labels.items())
    return f"{name}{{{pairs}}} {_number(value)}"


def _label_value(value: str) -> str:
    return value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
