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


def practitioners(db: DB) -> list[str]:
    """Every practitioner named on a session, in name order."""
    names = db.scalars(select(Session.practitioner).distinct().order_by(Session.practitioner))
    return [name for name in names if name]


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
