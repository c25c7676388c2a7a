"""A person asks for a message to go out again: audited, limited, sent at once."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DB

from reminders import store
from reminders.config import Settings
from reminders.journal import record
from reminders.models import UPCOMING, Message, MessageStatus, Session
from reminders.sending.dispatch import send_claimed

LIMIT_WINDOW = timedelta(hours=24)


class ResendRefused(Exception):
    """The resend was not made; the message says why, for the person who asked."""


def resend(
    settings: Settings,
    session_id: str,
    channel: str,
    by: str,
    reason: str,
    now: datetime,
    request_key: str | None = None,
) -> Message:
    """Create a new message row for the session and send it now, whatever the quiet hours.

    A `request_key` seen before returns that request's message instead: a re-posted form
    or a double click sends once.
    """
    if not by.strip():
        raise ResendRefused("say who is asking (--by NAME)")
    with store.transaction(settings.database_url) as db:
        # The session's row lock also serialises two posts of the same form.
        session = db.scalars(
            select(Session).where(Session.external_id == session_id).with_for_update()
        ).one_or_none()
        if session is None:
            raise ResendRefused(f"no session {session_id!r}")
        earlier = _by_request_key(db, request_key) if request_key else None
        if earlier is not None:
            return earlier
        _check(settings, db, session, channel, now)
        message = Message.reminder_now(
            session, channel=channel, by=by, now=now, request_key=request_key
        )
        db.add(message)
        db.flush()
        why = f"manual resend by {by}" + (f": {reason}" if reason else "")
        record(db, message, MessageStatus.QUEUED, why, now, actor=by)
    send_claimed(settings, [message.id], now)
    with store.transaction(settings.database_url) as db:
        sent = db.get(Message, message.id)
        assert sent is not None
        return sent


def _by_request_key(db: DB, request_key: str) -> Message | None:
    return db.scalar(select(Message).where(Message.request_key == request_key))


def _check(settings: Settings, db: DB, session: Session, channel: str, now: datetime) -> None:
    if session.status not in UPCOMING:
        raise ResendRefused(f"session {session.external_id} is {session.status}")
    if now >= session.starts_at:
        raise ResendRefused(f"session {session.external_id} has already started")
    patient = session.series.patient
    if patient.opted_out_of(channel):
        raise ResendRefused(f"the patient opted out of {channel}")
    if not patient.address_for(channel):
        raise ResendRefused(f"the patient has no {channel} address on file")
    recent = db.scalar(
        select(func.count(Message.id)).where(
            Message.session_id == session.id,
            Message.channel == channel,
            Message.triggered_by != "planner",
            Message.created_at > now - LIMIT_WINDOW,
        )
    )
    if (recent or 0) >= settings.resend_limit:
        raise ResendRefused(
            f"limit reached: at most {settings.resend_limit} manual resends per session and "
            f"channel in 24 hours ({recent} already for {session.external_id} by {channel})"
        )
