"""Each series' tally of its sessions, kept on the series row for the call list.

The call list (staff/drift.py) must find the few drifting series among a million sessions
every minute; grouping every completed session each time costs seconds once a clinic has
years of history. So each series carries what that grouping gave: how many sessions are
completed, the highest completed number, the last completed start and the last no-show.
The importer, the only writer of sessions, counts them again for the series a batch
touched, from the sessions themselves (a recount, never an increment, so a tally cannot
drift from its sessions). The standing is still derived from the sessions
(planning/standing.py): the tally only narrows which series are loaded.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, Update, func, select, update
from sqlalchemy.orm import Session as DB

from reminders.models import Series, Session, SessionStatus, UTCDateTime

# Series recounted per statement (the IN list).
BATCH = 1000


def recount(db: DB, series_ids: Iterable[int] | None = None) -> None:
    """Count again the tally of these series (every series when None)."""
    if series_ids is None:
        db.execute(_recount())
        return
    ids = sorted(set(series_ids))
    for start in range(0, len(ids), BATCH):
        db.execute(_recount().where(Series.id.in_(ids[start : start + BATCH])))


def _recount() -> Update:
    completed = Session.status == SessionStatus.COMPLETED
    no_show = Session.status == SessionStatus.NO_SHOW
    latest = func.max(Session.starts_at, type_=UTCDateTime())
    return (
        update(Series)
        .values(
            completed_sessions=_of_series(func.count(), completed),
            top_completed_number=func.coalesce(_of_series(func.max(Session.number), completed), 0),
            last_completed_at=_of_series(latest, completed),
            last_no_show_at=_of_series(latest, no_show),
        )
        .execution_options(synchronize_session=False)
    )


def _of_series(aggregate: ColumnElement[Any], status: ColumnElement[bool]) -> ScalarSelect[Any]:
    # Each one an index-only range of `ix_sessions_status_series`.
    return select(aggregate).where(status, Session.series_id == Series.id).scalar_subquery()
