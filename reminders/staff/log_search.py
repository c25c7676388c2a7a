"""The message log as the console shows it: filtered, newest first, a page at a time; and
the messages that went wrong, for Needs attention."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session as DB
from sqlalchemy.orm import joinedload

from reminders.models import PROBLEMS, Message, Series, Session


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
            # A message is "on" a day when it was due or sent then.
            found.append(or_(self._within(Message.due_at), self._within(Message.sent_at)))
        return found

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


def search_log(db: DB, filters: LogFilters, number: int, size: int) -> tuple[list[Message], int]:
    """Page `number` (from 1) of `size` messages, newest first, and how many match in all."""
    conditions = filters.conditions()
    total = db.scalar(select(func.count(Message.id)).where(*conditions)) or 0
    newest = func.coalesce(Message.sent_at, Message.due_at)
    query = (
        _with_patient()
        .where(*conditions)
        .order_by(newest.desc(), Message.id.desc())
        .offset((number - 1) * size)
        .limit(size)
    )
    return list(db.scalars(query).unique()), total


def problem_messages(db: DB, limit: int) -> list[Message]:
    """Messages that failed, went undelivered or ended unknown, latest first, at most `limit`."""
    newest = func.coalesce(Message.sent_at, Message.attempted_at, Message.due_at)
    query = (
        _with_patient()
        .where(Message.status.in_(PROBLEMS))
        .order_by(newest.desc(), Message.id.desc())
        .limit(limit)
    )
    return list(db.scalars(query).unique())
