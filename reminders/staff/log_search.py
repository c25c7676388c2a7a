"""The message log as the console shows it: filtered, latest activity first, a page at a
time (keyset: a deep page costs what the first does); and the messages that went wrong,
for Needs attention."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    and_,
    bindparam,
    func,
    or_,
    select,
    tuple_,
)
from sqlalchemy.orm import Session as DB
from sqlalchemy.orm import joinedload

from reminders.models import Message, MessageStatus, Series, Session, UTCDateTime

FEW_DAYS = timedelta(days=31)


@dataclass(frozen=True)
class LogFilters:
    """What staff narrowed the log to; an empty string or None is no filter."""

    status: str
    channel: str
    kind: str
    start: datetime | None
    end: datetime | None

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.status:
            found.append(Message.status == self.status)
        if self.channel:
            found.append(Message.channel == self.channel)
        if self.kind:
            found.append(Message.kind == self.kind)
        if self.start or self.end:
            # A message is "on" a day when it was due or sent then. Naming every status lets
            # the (status, due_at) index find the due ones instead of reading every message.
            due = and_(Message.status.in_(list(MessageStatus)), self._within(Message.due_at))
            found.append(or_(due, self._within(Message.sent_at)))
        return found

    def few_days(self) -> bool:
        """A range of at most a month: its rows are few enough to gather, then sort."""
        return self.start is not None and self.end is not None and self.end - self.start <= FEW_DAYS

    def _within(self, column: Any) -> ColumnElement[bool]:
        bounds = []
        if self.start:
            bounds.append(column >= self.start)
        if self.end:
            bounds.append(column < self.end)
        return and_(*bounds)


def _with_patient() -> Select[tuple[Message]]:
    """Messages with their session, series and patient loaded: every row shows all four."""
    return select(Message).options(
        joinedload(Message.session).joinedload(Session.series).joinedload(Series.patient)
    )


# Counting stops here: past it the page says "10,000 or more", and a million rows cost no more.
COUNT_CAP = 10_000


def activity() -> ColumnElement[datetime]:
    """When a message last did something: its delivery report, its send, its attempt, or,
    still waiting, when it was planned. The log lists the latest first, so rows planned
    for months ahead do not push today's sends off the first page."""
    return func.coalesce(
        Message.provider_status_at, Message.sent_at, Message.attempted_at, Message.created_at
    )


@dataclass(frozen=True)
class Cursor:
    """Where a page of the log ended: the last row's activity and id. The next page starts
    below it on the index, however deep, instead of counting past every earlier row."""

    at: datetime
    id: int

    def __str__(self) -> str:
        return f"{self.at.strftime('%Y%m%dT%H%M%S.%f')}-{self.id}"

    @classmethod
    def parse(cls, text: str) -> Cursor | None:
        """A cursor from a link; None for anything else (the first page)."""
        stamp, _, number = text.partition("-")
        try:
            at = datetime.strptime(stamp, "%Y%m%dT%H%M%S.%f").replace(tzinfo=UTC)
            return cls(at, int(number))
        except ValueError:
            return None

    @classmethod
    def of(cls, message: Message) -> Cursor:
        at = message.provider_status_at or message.sent_at or message.attempted_at
        return cls(at or message.created_at, message.id)


def search_log(
    db: DB, filters: LogFilters, size: int, after: Cursor | None = None
) -> tuple[list[Message], int, Cursor | None]:
    """`size` messages, latest activity first, from below `after` (None: the top); how many
    match in all (at most COUNT_CAP); and the cursor of the next page, None on the last."""
    conditions = filters.conditions()
    capped = select(Message.id).where(*conditions).limit(COUNT_CAP).subquery()
    total = db.scalar(select(func.count()).select_from(capped)) or 0
    if filters.few_days() and db.get_bind().dialect.name == "postgresql":
        found = _days_page(db, conditions, size, after)
    else:
        query = _with_patient().where(*conditions, *_below(activity(), Message.id, after))
        query = query.order_by(activity().desc(), Message.id.desc()).limit(size + 1)
        found = list(db.scalars(query).unique())
    more = len(found) > size
    return found[:size], total, Cursor.of(found[size - 1]) if more else None


def _below(at: Any, id: Any, after: Cursor | None) -> list[ColumnElement[bool]]:
    if after is None:
        return []
    when = bindparam("after_at", after.at, type_=UTCDateTime())
    return [tuple_(at, id) < tuple_(when, bindparam("after_id", after.id, type_=Integer()))]


def _days_page(
    db: DB, conditions: list[ColumnElement[bool]], size: int, after: Cursor | None
) -> list[Message]:
    # A few days' messages come from the due and sent indexes, then are sorted: a few ms for
    # a day of 1,700 at 1M sessions. Left to choose, the planner walks the activity index
    # and filters it, reading every message newer than the days chosen (3 s at 1M).
    found = (
        select(Message.id, activity().label("at"))
        .where(*conditions)
        .cte("found")
        .prefix_with("MATERIALIZED")
    )
    page = select(found.c.id).where(*_below(found.c.at, found.c.id, after))
    page = page.order_by(found.c.at.desc(), found.c.id.desc()).limit(size + 1)
    ids = list(db.scalars(page))
    query = _with_patient().where(Message.id.in_(ids))
    rows = {m.id: m for m in db.scalars(query).unique()}
    return [rows[i] for i in ids]
