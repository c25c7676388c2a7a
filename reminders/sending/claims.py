"""Claims on due messages: a conditional UPDATE gives each row to one caller only.

A row moves planned -> queued here; a claim whose task never ran, or a send whose worker
died, is released after the lease.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session as DB

from reminders.config import Settings
from reminders.journal import record_many
from reminders.kinds import SESSION_REMINDER
from reminders.models import Message, MessageStatus


def claim_due(db: DB, now: datetime, limit: int) -> list[int]:
    """Move up to `limit` due rows from planned to queued; only this caller gets them."""
    due = (
        select(Message.id)
        .where(Message.status == MessageStatus.PLANNED, Message.due_at <= now)
        .order_by(Message.due_at, Message.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = db.scalars(
        update(Message)
        .where(Message.id.in_(due.scalar_subquery()), Message.status == MessageStatus.PLANNED)
        .values(status=MessageStatus.QUEUED, claimed_at=now, reason="claimed for sending")
        .returning(Message.id)
        .execution_options(synchronize_session=False)
    ).all()
    ids = sorted(claimed)
    record_many(db, ids, MessageStatus.QUEUED, "claimed for sending", now)
    return ids


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
    """A claim whose task never ran is planned again; a send whose worker died is unknown."""
    cutoff = now - timedelta(seconds=settings.lease_seconds)
    queued = db.scalars(
        select(Message.id).where(
            Message.status == MessageStatus.QUEUED, Message.claimed_at < cutoff
        )
    ).all()
    _move(db, queued, MessageStatus.QUEUED, MessageStatus.PLANNED, "claim expired", now)
    sending = db.scalars(
        select(Message.id).where(
            Message.status == MessageStatus.SENDING, Message.attempted_at < cutoff
        )
    ).all()
    reason = "worker stopped during the send: outcome unknown, not resent"
    _move(db, sending, MessageStatus.SENDING, MessageStatus.UNKNOWN, reason, now)


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
