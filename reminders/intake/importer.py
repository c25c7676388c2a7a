"""Write a validated schedule into the store: an upsert keyed by the clinic's ids.

Rows arrive a chunk at a time and are compared with what is stored; only differences are
written, and only the patients something changed for are re-planned. So the same file
twice writes nothing, and one changed row re-plans one patient. A changed start is a
reschedule, status `cancelled` a cancellation, a changed phone or opt-out takes effect for
unsent messages. It is all one transaction: a bad row anywhere and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import Row, Table, insert, inspect, select, update
from sqlalchemy.orm import Session as DB

from reminders import store
from reminders.config import Settings
from reminders.intake.schedule_file import (
    PATIENT_COLUMNS,
    Problem,
    Schedule,
    ScheduleError,
    ScheduleRow,
)
from reminders.models import Base, Message, MessageEvent, Patient, Series, Session, SessionStatus
from reminders.planning import tallies
from reminders.planning.planner import replan_patients

OPT_OUT_COLUMNS = ("sms_opt_out", "email_opt_out")
CONTACT_COLUMNS = tuple(c for c in PATIENT_COLUMNS if c not in OPT_OUT_COLUMNS)
SERIES_FIELDS = ("treatment", "planned_sessions", "target_interval_days")
SESSION_FIELDS = ("number", "starts_at", "duration_minutes", "practitioner", "location", "status")
# Rows compared and written at a time: each `IN (...)` stays well under SQLite's limit on
# bound parameters, and memory stays flat however long the file.
CHUNK = 2000
# Patients re-planned at a time; their sessions and messages leave memory after each batch.
PLAN_BATCH = 500

# `stage(label, done, total)`: how far the import is, for a progress display.
Stages = Callable[[str, int, int], None]


def _counts() -> dict[str, int]:
    return {"patients": 0, "series": 0, "sessions": 0}


@dataclass
class ImportSummary:
    rows: int = 0
    created: dict[str, int] = field(default_factory=_counts)
    updated: dict[str, int] = field(default_factory=_counts)
    messages_changed: int = 0

    def __str__(self) -> str:
        made = ", ".join(f"{n} {what}" for what, n in self.created.items())
        changed = ", ".join(f"{n} {what}" for what, n in self.updated.items())
        return (
            f"{self.rows} rows: created {made}; updated {changed}; "
            f"{self.messages_changed} planned messages changed"
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Writer:
    """One import's writes: each chunk of rows compared with the store, differences written."""

    def __init__(self, db: DB, now: datetime, summary: ImportSummary) -> None:
        self.db, self.now, self.summary = db, now, summary
        self.patients: dict[str, int] = {}  # external id -> id, for the file's patients
        self.series: dict[str, int] = {}
        self.replan: set[int] = set()  # patient ids whose messages may change
        self.problems: list[Problem] = []

    def write(self, rows: Sequence[ScheduleRow]) -> None:
        self.summary.rows += len(rows)
        stored_sessions = self._stored_sessions(rows)
        self._patients(_first_of_each(rows, "patient_id", self.patients))
        self._series(_first_of_each(rows, "series_id", self.series))
        if not self.problems:
            self._sessions(rows, stored_sessions)

    def _patients(self, rows: list[ScheduleRow]) -> None:
        stored = _stored(self.db, Patient, [r.patient_id for r in rows], *PATIENT_COLUMNS)
        fresh, changed = [], []
        for row in rows:
            old = stored.get(row.patient_id)
            if old is None:
                fresh.append({"external_id": row.patient_id, **_patient_values(row)})
                continue
            self.patients[row.patient_id] = old.id
            values = _patient_changes(old, row)
            if values is not None:
                changed.append({"id": old.id, **values})
                self.replan.add(old.id)
        self._insert(Patient, fresh, self.patients, "patients")
        self.replan.update(self.patients[r["external_id"]] for r in fresh)
        self._update(Patient, changed, "patients")

    def _series(self, rows: list[ScheduleRow]) -> None:
        stored = _stored(
            self.db, Series, [r.series_id for r in rows], Series.patient_id, *SERIES_FIELDS
        )
        owners = self._external_ids(Patient, {s.patient_id for s in stored.values()})
        fresh, changed = [], []
        for row in rows:
            patient = self.patients[row.patient_id]
            values = {name: getattr(row, name) for name in SERIES_FIELDS}
            old = stored.get(row.series_id)
            if old is None:
                fresh.append({"external_id": row.series_id, "patient_id": patient, **values})
                self.replan.add(patient)
                continue
            self.series[row.series_id] = old.id
            if old.patient_id != patient:
                owner = owners[old.patient_id]
                self._problem(
                    row,
                    f"series {row.series_id} belongs to patient {owner}, not {row.patient_id}",
                )
            elif any(getattr(old, k) != v for k, v in values.items()):
                changed.append({"id": old.id, **values})
                self.replan.add(patient)
        self._insert(Series, fresh, self.series, "series")
        self._update(Series, changed, "series")

    def _stored_sessions(self, rows: Sequence[ScheduleRow]) -> dict[str, Row[Any]]:
        """The chunk's stored sessions; one filed under another series is a problem."""
        stored = _stored(
            self.db, Session, [r.session_id for r in rows], Session.series_id, *SESSION_FIELDS
        )
        owners = self._external_ids(Series, {s.series_id for s in stored.values()})
        for row in rows:
            old = stored.get(row.session_id)
            if old is not None and owners[old.series_id] != row.series_id:
                self._problem(
                    row,
                    f"session {row.session_id} belongs to series "
                    f"{owners[old.series_id]}, not {row.series_id}",
                )
        return stored

    def _sessions(self, rows: Sequence[ScheduleRow], stored: dict[str, Row[Any]]) -> None:
        fresh, changed, touched = [], [], set()
        for row in rows:
            values = _session_values(row)
            old = stored.get(row.session_id)
            if old is None:
                series = self.series[row.series_id]
                touched.add(series)
                fresh.append(
                    {
                        "external_id": row.session_id,
                        "series_id": series,
                        "status_changed_at": self.now,
                        **values,
                    }
                )
            else:
                change = _session_changes(old, values)
                if change is None:
                    continue
                if change["status"] != old.status:
                    change["status_changed_at"] = self.now
                changed.append({"id": old.id, **change})
                touched.add(old.series_id)
            self.replan.add(self.patients[row.patient_id])
        if fresh:
            self.db.connection().execute(insert(Session), fresh)
            self.summary.created["sessions"] += len(fresh)
        self._update(Session, changed, "sessions")
        tallies.recount(self.db, touched)

    def _insert(
        self,
        model: type[Patient] | type[Series],
        rows: list[dict[str, Any]],
        ids: dict[str, int],
        what: str,
    ) -> None:
        if not rows:
            return
        # The driver's executemany, then the new ids by external id: RETURNING would make
        # statements of a thousand rows each, which psycopg parses anew every time.
        self.db.connection().execute(insert(model), rows)
        made = _stored(self.db, model, [r["external_id"] for r in rows])
        ids.update({external_id: row.id for external_id, row in made.items()})
        self.summary.created[what] += len(rows)

    def _update(
        self, model: type[Patient | Series | Session], rows: list[dict[str, Any]], what: str
    ) -> None:
        _update_by_id(self.db, model, rows)
        self.summary.updated[what] += len(rows)

    def _external_ids(self, model: type[Patient] | type[Series], ids: set[int]) -> dict[int, str]:
        if not ids:
            return {}
        query = select(model.id, model.external_id).where(model.id.in_(ids))
        found = self.db.connection().execute(query)
        return {id_: external_id for id_, external_id in found}

    def _problem(self, row: ScheduleRow, text: str) -> None:
        self.problems.append(Problem(row.row, "series_id", text))

    def plan(self, settings: Settings, stages: Stages | None) -> int:
        """Re-plan the patients something changed for, a batch at a time."""
        changed, done, total = 0, 0, len(self.replan)
        for batch in batched(sorted(self.replan), PLAN_BATCH):
            patients = self.db.scalars(select(Patient).where(Patient.id.in_(batch))).all()
            changed += replan_patients(self.db, settings, patients, self.now)
            _write_plans(self.db)
            done += len(batch)
            if stages:
                stages("planning", done, total)
        return changed


def _write_plans(db: DB) -> None:
    """Write what the planner decided in a few bulk statements, then let the batch go.

    The planner's new messages and their events are plain INSERTs and its changes plain
    UPDATEs by id; the ORM's unit of work would spend more on them than the planning took.
    Anything else pending goes through an ordinary flush.
    """
    pending = list(db.new)
    messages = [o for o in pending if isinstance(o, Message)]
    events = [o for o in pending if isinstance(o, MessageEvent)]
    changed = [o for o in db.dirty if db.is_modified(o, include_collections=False)]
    if len(messages) + len(events) < len(pending) or any(
        not isinstance(o, Message) for o in changed
    ):
        db.flush()
        db.expunge_all()
        return
    with db.no_autoflush:
        _update_by_id(db, Message, [_changes(o) for o in changed])
        ids = _insert_messages(db, messages)
        rows = [
            {
                "message_id": e.message.id if e.message.id is not None else ids[id(e.message)],
                "at": e.at,
                "status": e.status,
                "reason": e.reason,
                "actor": e.actor,
            }
            for e in events
        ]
        if rows:
            db.connection().execute(insert(_table(MessageEvent)), rows)
    db.expunge_all()


def _table(model: type[Base]) -> Table:
    return Base.metadata.tables[model.__tablename__]


def _changes(message: Message) -> dict[str, Any]:
    state = inspect(message)
    values = {"id": message.id}
    for attr in state.mapper.column_attrs:
        if state.attrs[attr.key].history.has_changes():
            values[attr.key] = getattr(message, attr.key)
    return values


def _insert_messages(db: DB, messages: list[Message]) -> dict[int, int]:
    """Insert new messages; their ids by `id()` of the object."""
    columns = [c.key for c in Message.__table__.columns if c.key != "id"]
    groups: dict[tuple[str, ...], list[tuple[Message, dict[str, Any]]]] = {}
    for message in messages:
        given = inspect(message).dict
        values = {key: given[key] for key in columns if key in given}
        values["session_id"] = message.session.id
        groups.setdefault(tuple(values), []).append((message, values))
    ids: dict[int, int] = {}
    for group in groups.values():
        table = _table(Message)
        query = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        made = db.connection().execute(query, [values for _, values in group]).scalars().all()
        ids.update((id(message), new_id) for (message, _), new_id in zip(group, made, strict=True))
    return ids


def _update_by_id(db: DB, model: type[Base], rows: list[dict[str, Any]]) -> None:
    # One statement per key set: the bulk update by primary key needs the same keys throughout.
    by_keys: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        by_keys.setdefault(tuple(row), []).append(row)
    for same in by_keys.values():
        db.execute(update(model), same)


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """`itertools.batched`, which Python 3.11 lacks."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _first_of_each(
    rows: Sequence[ScheduleRow], key: str, known: dict[str, int]
) -> list[ScheduleRow]:
    """The first row of each patient (or series) not met earlier in the file: validation made
    sure every row of one reads the same."""
    first: dict[str, ScheduleRow] = {}
    for row in rows:
        value = getattr(row, key)
        if value not in known:
            first.setdefault(value, row)
    return list(first.values())


def _stored(
    db: DB, model: type[Patient | Series | Session], external_ids: list[str], *columns: Any
) -> dict[str, Row[Any]]:
    if not external_ids:
        return {}
    fields = [getattr(model, c) if isinstance(c, str) else c for c in columns]
    query = select(model.id, model.external_id, *fields).where(model.external_id.in_(external_ids))
    # Plain rows from the connection: the ORM's result machinery would cost more than the query.
    return {row.external_id: row for row in db.connection().execute(query)}


def _patient_values(row: ScheduleRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in PATIENT_COLUMNS}


def _patient_changes(old: Row[Any], row: ScheduleRow) -> dict[str, Any] | None:
    values = {name: getattr(row, name) for name in CONTACT_COLUMNS}
    for name in OPT_OUT_COLUMNS:
        # A file may opt a patient out, never back in: an opt-out recorded in the console
        # (or by a STOP reply) must not be undone by the next routine import.
        values[name] = getattr(old, name) or getattr(row, name)
    if all(getattr(old, k) == v for k, v in values.items()):
        return None
    return values


def _session_values(row: ScheduleRow) -> dict[str, Any]:
    return {
        "number": row.session_number,
        "starts_at": row.starts_at,
        "duration_minutes": row.duration_minutes,
        "practitioner": row.practitioner,
        "location": row.location,
        "status": row.status,
    }


def _session_changes(old: Row[Any], values: dict[str, Any]) -> dict[str, Any] | None:
    """The values to write, or None when the stored session already reads so.

    The booking system never hears of a patient's SMS confirmation, so its "booked" is our
    "confirmed"; any other change of the session (time, practitioner, status, ...) is a new
    appointment and the confirmation goes with the old one.
    """
    if old.status == SessionStatus.CONFIRMED and values["status"] == SessionStatus.BOOKED:
        kept = {**values, "status": SessionStatus.CONFIRMED.value}
        if all(getattr(old, k) == v for k, v in kept.items()):
            return None
    if all(getattr(old, k) == v for k, v in values.items()):
        return None
    return values


def import_schedule(
    settings: Settings,
    rows: Iterable[ScheduleRow],
    now: datetime,
    *,
    dry_run: bool = False,
    stages: Stages | None = None,
    finish_reading: Callable[[], None] | None = None,
) -> ImportSummary:
    """Upsert every row and re-plan what changed, in one transaction: all or nothing.

    `rows` may be a stream; `finish_reading` is called once it is exhausted and raises
    ScheduleError when the stream met a bad row (nothing is written then).
    """
    summary = ImportSummary()
    db = store.sessions(settings.database_url)()
    try:
        writer = _Writer(db, now, summary)
        for chunk in batched(rows, CHUNK):
            if not writer.problems:
                writer.write(chunk)
        if finish_reading:
            finish_reading()
        if writer.problems:
            raise ScheduleError(writer.problems)
        summary.messages_changed = writer.plan(settings, stages)
        if dry_run:
            db.rollback()
        else:
            db.commit()
    finally:
        db.rollback()
        db.close()
    return summary


def import_file(
    settings: Settings,
    path: Path,
    now: datetime,
    *,
    dry_run: bool = False,
    stages: Stages | None = None,
) -> ImportSummary:
    """Validate and import a schedule file in one pass, never holding it whole.

    Rows are written as they pass validation; the first bad row stops the writing (every
    row is still checked, so staff get every problem) and the transaction is rolled back.
    """
    schedule = Schedule(path, settings.clinic.zone)
    validated = None if stages is None else _stage(stages, "rows")
    rows: Iterator[ScheduleRow] = schedule.rows(validated)
    return import_schedule(
        settings, rows, now, dry_run=dry_run, stages=stages, finish_reading=schedule.check
    )


def _stage(stages: Stages, label: str) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        stages(label, done, total)

    return report
