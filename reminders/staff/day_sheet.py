"""The day sheet: the sessions booked between two days, with their patients and reminders."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DB
from sqlalchemy.orm import joinedload, selectinload

from reminders.models import InboundMessage, Series, Session


def sessions_between(
    db: DB, start: datetime, end: datetime, practitioner: str = "", limit: int | None = None
) -> Sequence[Session]:
    """Sessions from `start` (included) to `end` (excluded) in time order, one practitioner's
    when named, at most `limit`; each with its messages and its series' patient loaded."""
    query = (
        select(Session)
        .where(Session.starts_at >= start, Session.starts_at < end)
        .options(
            selectinload(Session.messages),
            joinedload(Session.series).joinedload(Series.patient),
        )
        .order_by(Session.starts_at, Session.id)
    )
    if practitioner:
        query = query.where(Session.practitioner == practitioner)
    return db.scalars(query.limit(limit)).unique().all()


def practitioners(db: DB, start: datetime, end: datetime, chosen: str = "") -> list[str]:
    """The practitioners with a session from `start` to `end`, and the one `chosen`, in
    name order: the days' own rows, found by their start, not every session ever booked
    (a quarter of a second at a million sessions, on every view of the day)."""
    query = select(Session.practitioner).where(Session.starts_at >= start, Session.starts_at < end)
    names = set(db.scalars(query.distinct())) | {chosen}
    return sorted(name for name in names if name)


def confirmations(db: DB, session_ids: Sequence[int]) -> dict[int, datetime]:
    """When each session was confirmed by the patient's reply, for those that were."""
    if not session_ids:
        return {}
    query = (
        select(InboundMessage.session_id, func.min(InboundMessage.received_at))
        .where(InboundMessage.session_id.in_(session_ids), InboundMessage.intent == "confirm")
        .group_by(InboundMessage.session_id)
    )
    return {session_id: at for session_id, at in db.execute(query) if session_id is not None}
