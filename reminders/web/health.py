"""`/healthz` for the load balancer and `/metrics` for Prometheus: public, and free of names.

Neither says anything about a patient: health names the failing part and why (never a
password), metrics carry only counts and timings labelled by channel, kind and status.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session as DB

from reminders import store
from reminders.config import CHANNELS
from reminders.models import WAITING, Message, MessageStatus
from reminders.ops import checks, heartbeat
from reminders.web.deps import now_of, settings_of
from reminders.web.schemas import HealthOut

router = APIRouter(tags=["operations"])

# Health


@router.get("/healthz", response_model=HealthOut, responses={503: {"model": HealthOut}})
def healthz(request: Request, response: Response) -> HealthOut:
    """200 when the database and broker answer, a worker was seen lately and beat's dispatch
    passes are running; 503 naming what is not."""
    settings, now = settings_of(request), now_of(request)
    health = HealthOut(
        status="ok",
        database=checks.database(settings),
        broker=checks.broker(settings),
        worker="not checked: the database is unreachable",
        beat="not checked: the database is unreachable",
    )
    if health.database == "ok":
        pulse = heartbeat.pulse(settings, now)
        health.worker = pulse.worker_problem() or "ok"
        health.beat = pulse.beat_problem() or "ok"
    if any(part != "ok" for part in (health.database, health.broker, health.worker, health.beat)):
        health.status = "failing"
        response.status_code = 503
    return health


# Metrics

LATENCY_WINDOW = timedelta(hours=24)
COUNTS_EVERY = timedelta(minutes=5)
# The last count of the store per database: (time.monotonic() then, rows).
_counted: dict[str, tuple[float, list[tuple[str, str, str, int]]]] = {}
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class PrometheusText(PlainTextResponse):
    media_type = "text/plain; version=0.0.4; charset=utf-8"


@router.get("/metrics", response_class=PrometheusText)
def metrics(request: Request) -> PrometheusText:
    """Prometheus text exposition (format 0.0.4)."""
    settings, now = settings_of(request), now_of(request)
    with store.transaction(settings.database_url) as db:
        lines = [
            *_message_counts(db, settings.database_url),
            *_due_unsent(db, now),
            *_unknown_outcomes(db),
            *_permanent_failures(db, now),
            *_latency(db, now),
        ]
    lines += _pulse(heartbeat.pulse(settings, now))
    return PrometheusText("\n".join(lines) + "\n")


def _pulse(pulse: heartbeat.Pulse) -> list[str]:
    """Ages of the heartbeats; -1 for a part never seen (an alert on `> limit` then fires
    on `!= -1 and ...` or on the `_seen` gauges)."""
    beat_age = -1.0 if pulse.beat_age is None else pulse.beat_age
    worker_age = pulse.youngest_worker_age
    return [
        *_header(
            "reminders_beat_last_pass_age_seconds",
            "gauge",
            "Seconds since the last dispatch pass that beat asked for ran (-1: never).",
        ),
        _sample("reminders_beat_last_pass_age_seconds", beat_age),
        *_header(
            "reminders_worker_last_seen_age_seconds",
            "gauge",
            "Seconds since the most recent heartbeat of any worker (-1: never).",
        ),
        _sample(
            "reminders_worker_last_seen_age_seconds", -1.0 if worker_age is None else worker_age
        ),
        *_header(
            "reminders_workers_seen",
            "gauge",
            f"Workers with a heartbeat in the last {heartbeat.WORKER_STALE.total_seconds():g} s.",
        ),
        _sample("reminders_workers_seen", len(pulse.live_workers)),
    ]


def _unknown_outcomes(db: DB) -> list[str]:
    count = db.scalar(select(func.count(Message.id)).where(Message.status == MessageStatus.UNKNOWN))
    help_text = "Messages whose provider may or may not have them: the reconciler or staff decide."
    return [
        *_header("reminders_unknown_outcomes", "gauge", help_text),
        _sample("reminders_unknown_outcomes", count or 0),
    ]


FINISHED = (
    MessageStatus.SENT,
    MessageStatus.DELIVERED,
    MessageStatus.UNDELIVERED,
    MessageStatus.FAILED,
)


def _permanent_failures(db: DB, now: datetime) -> list[str]:
    """Of the messages attempted in the last 24 hours with a final outcome, the share failed."""
    rows = db.execute(
        select(Message.status, func.count(Message.id))
        .where(Message.status.in_(FINISHED), Message.attempted_at >= now - LATENCY_WINDOW)
        .group_by(Message.status)
    )
    counts = dict(rows.tuples().all())
    total = sum(counts.values())
    ratio = counts.get(MessageStatus.FAILED, 0) / total if total else 0.0
    name = "reminders_permanent_failure_ratio"
    help_text = "Share of the last 24 hours' attempted messages that failed for good (0 to 1)."
    return [*_header(name, "gauge", help_text), _sample(name, ratio)]


def _message_counts(db: DB, database_url: str) -> list[str]:
    """The store by channel, kind and status, counted at most every `COUNTS_EVERY`.

    The count reads every message (a second at 3M; no index makes a GROUP BY over all of
    them cheap), so a scrape every 15 s would keep a core busy. The counts are exact as of
    their age, which is exported; the gauges that alert per minute (due, unknown, failure
    ratio, latency) are counted on every scrape."""
    counted = _counted.get(database_url)
    if counted is None or time.monotonic() - counted[0] >= COUNTS_EVERY.total_seconds():
        columns = (Message.channel, Message.kind, Message.status)
        query = select(*columns, func.count()).group_by(*columns).order_by(*columns)
        counted = (time.monotonic(), [tuple(row) for row in db.execute(query)])
        _counted[database_url] = counted
    at, rows = counted
    samples = [
        _sample("reminders_messages", count, channel=channel, kind=kind, status=status)
        for channel, kind, status, count in rows
    ]
    help_text = (
        "Messages in the store (the plan and the log) by channel, kind and status, "
        f"counted at most every {COUNTS_EVERY.total_seconds():g} s."
    )
    age_help = "Seconds since reminders_messages was counted."
    return [
        *_header("reminders_messages", "gauge", help_text),
        *samples,
        *_header("reminders_messages_counted_age_seconds", "gauge", age_help),
        _sample("reminders_messages_counted_age_seconds", round(time.monotonic() - at, 3)),
    ]


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
