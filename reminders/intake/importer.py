"""Write a validated schedule into the store: an upsert keyed by the clinic's ids.

A changed start is a reschedule, status `cancelled` a cancellation, a changed phone
or opt-out takes effect for unsent messages; the same file twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session as DB

from reminders import store
from reminders.config import Settings
from reminders.intake.schedule_file import PATIENT_COLUMNS, Problem, ScheduleError, ScheduleRow
from reminders.models import Patient, Series, Session
from reminders.planning.planner import replan_patients

OPT_OUT_COLUMNS = ("sms_opt_out", "email_opt_out")
CONTACT_COLUMNS = tuple(c for c in PATIENT_COLUMNS if c not in OPT_OUT_COLUMNS)
SERIES_FIELDS = ("treatment", "planned_sessions", "target_interval_days")
# Keeps each `IN (...)` well under SQLite's limit on bound parameters.
CHUNK = 5000

Entity = TypeVar("Entity", Patient, Series, Session)


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


def _by_external_id(db: DB, model: type[Entity], ids: Collection[str]) -> dict[str, Entity]:
    found: dict[str, Entity] = {}
    wanted = sorted(ids)
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        for entity in db.scalars(select(model).where(model.external_id.in_(chunk))):
            found[entity.external_id] = entity
    return found


class _Upsert:
    """One import's view of the store: everything it touches, loaded up front."""

    def __init__(self, db: DB, rows: list[ScheduleRow], now: datetime) -> None:
        self.db, self.now = db, now
        self.summary = ImportSummary(rows=len(rows))
        self.problems: list[Problem] = []
        with db.no_autoflush:
            self.patients = _by_external_id(db, Patient, {r.patient_id for r in rows})
            self.series = _by_external_id(db, Series, {r.series_id for r in rows})
            self.sessions = _by_external_id(db, Session, {r.session_id for r in rows})
        self.seen: set[str] = set()

    def row(self, row: ScheduleRow) -> Session:
        return self.session(row, self.series_for(row, self.patient(row)))

    def patient(self, row: ScheduleRow) -> Patient:
        patient = self.patients.get(row.patient_id)
        if patient is None:
            patient = self.patients[row.patient_id] = Patient(external_id=row.patient_id)
            self.db.add(patient)
            _assign(patient, row, PATIENT_COLUMNS)
            self.summary.created["patients"] += 1
        elif row.patient_id not in self.seen and _update_patient(patient, row):
            self.summary.updated["patients"] += 1
        self.seen.add(row.patient_id)
        return patient

    def series_for(self, row: ScheduleRow, patient: Patient) -> Series:
        series = self.series.get(row.series_id)
        if series is None:
            series = self.series[row.series_id] = Series(external_id=row.series_id, patient=patient)
            self.db.add(series)
            _assign(series, row, SERIES_FIELDS)
            self.summary.created["series"] += 1
            return series
        if series.patient is not patient:
            self._problem(
                row,
                "series_id",
                f"series {row.series_id} belongs to patient "
                f"{series.patient.external_id}, not {row.patient_id}",
            )
        if row.series_id not in self.seen and _assign(series, row, SERIES_FIELDS):
            self.summary.updated["series"] += 1
        self.seen.add(row.series_id)
        return series

    def session(self, row: ScheduleRow, series: Series) -> Session:
        values = _session_values(row)
        session = self.sessions.get(row.session_id)
        if session is None:
            session = Session(external_id=row.session_id, series=series, status_changed_at=self.now)
            self.db.add(session)
            for name, value in values.items():
                setattr(session, name, value)
            self.summary.created["sessions"] += 1
            return session
        if session.series is not series:
            self._problem(
                row,
                "series_id",
                f"session {row.session_id} belongs to series "
                f"{session.series.external_id}, not {row.series_id}",
            )
        old_status = session.status
        if any(getattr(session, k) != v for k, v in values.items()):
            for name, value in values.items():
                setattr(session, name, value)
            self.summary.updated["sessions"] += 1
        if session.status != old_status:
            session.status_changed_at = self.now
        return session

    def _problem(self, row: ScheduleRow, column: str, text: str) -> None:
        self.problems.append(Problem(row.row, column, text))


def _session_values(row: ScheduleRow) -> dict[str, Any]:
    return {
        "number": row.session_number,
        "starts_at": row.starts_at,
        "duration_minutes": row.duration_minutes,
        "practitioner": row.practitioner,
        "location": row.location,
        "status": row.status,
    }


def _update_patient(patient: Patient, row: ScheduleRow) -> bool:
    changed = _assign(patient, row, CONTACT_COLUMNS)
    for name in OPT_OUT_COLUMNS:
        # A file may opt a patient out, never back in: an opt-out recorded in the console
        # (or by a STOP reply) must not be undone by the next routine import.
        if getattr(row, name) and not getattr(patient, name):
            setattr(patient, name, True)
            changed = True
    return changed


def _assign(target: object, row: ScheduleRow, names: Iterable[str]) -> bool:
    changed = False
    for name in names:
        value = getattr(row, name)
        if getattr(target, name) != value:
            setattr(target, name, value)
            changed = True
    return changed


def import_schedule(
    settings: Settings, rows: list[ScheduleRow], now: datetime, *, dry_run: bool = False
) -> ImportSummary:
    """Upsert every row and re-plan the patients' sessions, in one transaction: all or nothing."""
    db = store.sessions(settings.database_url)()
    try:
        with db.no_autoflush:
            upsert = _Upsert(db, rows, now)
            for row in rows:
                upsert.row(row)
        if upsert.problems:
            raise ScheduleError(upsert.problems)
        db.flush()
        summary = upsert.summary
        summary.messages_changed = replan_patients(db, settings, upsert.patients.values(), now)
        if dry_run:
            db.rollback()
        else:
            db.commit()
    finally:
        db.rollback()
        db.close()
    return summary
