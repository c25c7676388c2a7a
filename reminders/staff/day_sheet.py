"""The day sheet: the sessions booked between two days, with their patients and reminders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session as DB
from sqlalchemy.orm import aliased, joinedload, selectinload

from reminders.models import InboundMessage, Series, Session, SessionStatus


def sessions_between(
    db: DB,
    start: datetime,
    end: datetime,
    practitioner: str = "",
    limit: int | None = None,
    after: int | None = None,
) -> Sequence[Session]:
    """Sessions from `start` (included) to `end` (excluded) in time order, one practitioner's
    when named, at most `limit`, and past the session `after` (the last of the page before);
    each with its messages and its series' patient loaded."""
    query = (
        select(Session)
        .where(*_between(start, end, practitioner))
        .options(
            selectinload(Session.messages),
            joinedload(Session.series).joinedload(Series.patient),
        )
        .order_by(Session.starts_at, Session.id)
    )
    if after is not None:
        page_end = aliased(Session)  # the last session of the page before
        last = select(page_end.starts_at).where(page_end.id == after).scalar_subquery()
        query = query.where(
            or_(Session.starts_at > last, and_(Session.starts_at == last, Session.id > after))
        )
    return db.scalars(query.limit(limit)).unique().all()


def counts_between(db: DB, start: datetime, end: datetime, practitioner: str = "") -> Counts:
    """How many sessions from `start` to `end`, and how many of them are confirmed."""
    confirmed = func.sum(case((Session.status == SessionStatus.CONFIRMED, 1), else_=0))
    total, yes = db.execute(
        select(func.count(), confirmed).where(*_between(start, end, practitioner))
    ).one()
    return Counts(int(total), int(yes or 0))


@dataclass(frozen=True)
class Counts:
    sessions: int
    confirmed: int


def _between(start: datetime, end: datetime, practitioner: str) -> list[ColumnElement[bool]]:
    where = [Session.starts_at >= start, Session.starts_at < end]
    if practitioner:
        where.append(Session.practitioner == practitioner)
    return where


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
