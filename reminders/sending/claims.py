"""Claims and leases: a conditional UPDATE gives each row to one caller only.

A row moves planned -> queued (claimed, in a batch) -> sending (one row, just before its
own provider call, with an attempt token). Each claim and attempt holds a lease that a
live worker extends; when a lease runs out its worker stopped, and the row is released:
planned again if it was never handed to the provider, unknown if it might have been.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.orm import Session as DB

from reminders.config import Settings
from reminders.journal import add_events, record_many
from reminders.kinds import SESSION_REMINDER
from reminders.models import Message, MessageStatus

# The lease a claim starts with when the caller names none (the settings' default).
LEASE_SECONDS = 300.0


def claim_due(db: DB, now: datetime, limit: int, lease_seconds: float = LEASE_SECONDS) -> list[int]:
    """Move up to `limit` due rows from planned to queued; only this caller gets them.

    The rows are picked and locked first, then updated by id: an `UPDATE ... WHERE id IN
    (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)` lets PostgreSQL re-run the subquery for
    every row it updates, and one claim then takes every due row whatever its limit.
    """
    picked = db.scalars(
        select(Message.id)
        .where(Message.status == MessageStatus.PLANNED, Message.due_at <= now)
        .order_by(Message.due_at, Message.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if not picked:
        return []
    claimed = db.scalars(
        update(Message)
        .where(Message.id.in_(picked), Message.status == MessageStatus.PLANNED)
        .values(
            status=MessageStatus.QUEUED,
            claimed_at=now,
            lease_until=now + timedelta(seconds=lease_seconds),
            reason="claimed for sending",
        )
        .returning(Message.id)
        .execution_options(synchronize_session=False)
    ).all()
    ids = sorted(claimed)
    record_many(db, ids, MessageStatus.QUEUED, "claimed for sending", now)
    return ids


def start_attempts(
    db: DB, ids: Collection[int], now: datetime, lease_seconds: float = LEASE_SECONDS
) -> tuple[str, list[int]]:
    """Take queued rows for their provider calls: `sending`, under a fresh attempt token.

    Committed before the calls, which follow at once. Returns the token and the rows taken;
    a row no longer queued (sent, released or taken by another worker) is not, and nothing
    is sent for it.
    """
    token = uuid.uuid4().hex
    if not ids:
        return token, []
    taken = db.execute(
        update(Message)
        .where(Message.id.in_(sorted(ids)), Message.status == MessageStatus.QUEUED)
        .values(
            status=MessageStatus.SENDING,
            attempt_token=token,
            attempted_at=now,
            lease_until=now + timedelta(seconds=lease_seconds),
            attempts=Message.attempts + 1,
            reason="sending",
        )
        .returning(Message.id, Message.attempts)
        .execution_options(synchronize_session=False)
    ).all()
    if taken:
        add_events(
            db,
            [
                {
                    "message_id": message_id,
                    "at": now,
                    "status": MessageStatus.SENDING,
                    "reason": f"attempt {attempts}",
                    "actor": "system",
                }
                for message_id, attempts in taken
            ],
        )
    return token, sorted(message_id for message_id, _ in taken)


def start_attempt(
    db: DB, message_id: int, now: datetime, lease_seconds: float = LEASE_SECONDS
) -> str | None:
    """`start_attempts` for one row: its token, or None when it was not taken."""
    token, taken = start_attempts(db, [message_id], now, lease_seconds)
    return token if taken else None


def extend_leases(db: DB, ids: Collection[int], until: datetime) -> int:
    """A live worker keeps the rows it still holds (queued or sending) from looking dead."""
    if not ids:
        return 0
    extended = db.execute(
        update(Message)
        .where(
            Message.id.in_(sorted(ids)),
            Message.status.in_((MessageStatus.QUEUED, MessageStatus.SENDING)),
        )
        .values(lease_until=until)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(extended)


def _rowcount(result: object) -> int:
    count: int = getattr(result, "rowcount", 0)
    return count


def collapse_catch_up(db: DB, now: datetime) -> int:
    """After an outage, keep only the latest due before-session reminder per session and channel."""
    rows = db.execute(
        select(Message.id, Message.session_id, Message.channel, Message.due_at)
        .where(
            Message.status == MessageStatus.PLANNED,
            Message.due_at <= now,
            Message.before_session.is_(True),
            Message.kind == SESSION_REMINDER,
            Message.triggered_by == "planner",
        )
        .order_by(Message.due_at.desc(), Message.id.desc())
    ).all()
    seen: set[tuple[int, str]] = set()
    stale: list[int] = []
    for message_id, session_id, channel, _due in rows:
        if (session_id, channel) in seen:
            stale.append(message_id)
        seen.add((session_id, channel))
    reason = "superseded by a later reminder for the same session (catch-up after an outage)"
    return _move(db, stale, MessageStatus.PLANNED, MessageStatus.SKIPPED, reason, now)


def release_stale(db: DB, settings: Settings, now: datetime) -> None:
    """Rows whose lease ran out: the worker holding them stopped.

    A queued row was never handed to the provider, so it is planned again. A sending row
    was marked just before its own provider call: its outcome is unknown, never resent.
    """
    cutoff = now - timedelta(seconds=settings.lease_seconds)
    queued = db.scalars(
        select(Message.id).where(
            Message.status == MessageStatus.QUEUED, _lease_over(now, Message.claimed_at, cutoff)
        )
    ).all()
    _move(db, queued, MessageStatus.QUEUED, MessageStatus.PLANNED, "claim expired", now)
    sending = db.scalars(
        select(Message.id).where(
            Message.status == MessageStatus.SENDING,
            _lease_over(now, Message.attempted_at, cutoff),
        )
    ).all()
    reason = "worker stopped during the send: outcome unknown, not resent"
    _move(db, sending, MessageStatus.SENDING, MessageStatus.UNKNOWN, reason, now)


def _lease_over(
    now: datetime, since: InstrumentedAttribute[datetime | None], cutoff: datetime
) -> ColumnElement[bool]:
    # Rows claimed before leases were stored count from their claim or attempt.
    return or_(
        Message.lease_until < now,
        and_(Message.lease_until.is_(None), since < cutoff),
    )


def _move(db: DB, ids: Sequence[int], old: str, new: str, reason: str, now: datetime) -> int:
    if not ids:
        return 0
    moved = db.scalars(
        update(Message)
        .where(Message.id.in_(ids), Message.status == old)
        .values(status=new, reason=reason)
        .returning(Message.id)
        .execution_options(synchronize_session=False)
    ).all()
    record_many(db, moved, new, reason, now)
    return len(moved)
