"""Write a validated schedule into the store: an upsert keyed by the clinic's session ids.

A changed start is a reschedule, status `cancelled` a cancellation, a changed phone
or opt-out takes effect for unsent messages; the same file twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as DB

from reminders import store
from reminders.config import Settings
from reminders.models import Patient, Series, Session
from reminders.planner import plan_session
from reminders.schedule_file import PATIENT_COLUMNS, Problem, ScheduleError, ScheduleRow


@dataclass
class ImportSummary:
    rows: int = 0
    created: dict[str, int] = field(
        default_factory=lambda: {"patients": 0, "series": 0, "sessions": 0}
    )
    updated: dict[str, int] = field(
        default_factory=lambda: {"patients": 0, "series": 0, "sessions": 0}
    )
    messages_changed: int = 0

    def __str__(self) -> str:
        made = ", ".join(f"{n} {what}" for what, n in self.created.items())
        changed = ", ".join(f"{n} {what}" for what, n in self.updated.items())
        return (
            f"{self.rows} rows: created {made}; updated {changed}; "
            f"{self.messages_changed} planned messages changed"
        )


class _Upsert:
    def __init__(self, db: DB, settings: Settings, now: datetime, summary: ImportSummary) -> None:
        self.db, self.settings, self.now, self.summary = db, settings, now, summary
        self.patients: dict[str, Patient] = {}
        self.series: dict[str, Series] = {}
        self.problems: list[Problem] = []

    def patient(self, row: ScheduleRow) -> Patient:
        if row.patient_id in self.patients:
            return self.patients[row.patient_id]
        patient = self.db.scalars(
            select(Patient).where(Patient.external_id == row.patient_id)
        ).one_or_none()
        if patient is None:
            patient = Patient(external_id=row.patient_id)
            self.db.add(patient)
            _assign(patient, row, PATIENT_COLUMNS)
            self.summary.created["patients"] += 1
        elif _assign(patient, row, PATIENT_COLUMNS):
            self.summary.updated["patients"] += 1
        self.patients[row.patient_id] = patient
        return patient

    def series_for(self, row: ScheduleRow, patient: Patient) -> Series:
        if row.series_id in self.series:
            return self.series[row.series_id]
        series = self.db.scalars(
            select(Series).where(Series.external_id == row.series_id)
        ).one_or_none()
        if series is None:
            series = Series(external_id=row.series_id, patient=patient)
            self.db.add(series)
            self.summary.created["series"] += 1
            _assign(series, row, ("treatment", "planned_sessions"))
        else:
            if series.patient.external_id != row.patient_id:
                self.problems.append(
                    Problem(
                        row.row,
                        "series_id",
                        f"series {row.series_id} belongs to patient "
                        f"{series.patient.external_id}, not {row.patient_id}",
                    )
                )
            if _assign(series, row, ("treatment", "planned_sessions")):
                self.summary.updated["series"] += 1
        self.series[row.series_id] = series
        return series

    def session(self, row: ScheduleRow, series: Series) -> Session:
        session = self.db.scalars(
            select(Session).where(Session.external_id == row.session_id)
        ).one_or_none()
        values = _session_values(row)
        if session is None:
            session = Session(external_id=row.session_id, series=series, status_changed_at=self.now)
            self.db.add(session)
            for name, value in values.items():
                setattr(session, name, value)
            self.summary.created["sessions"] += 1
            return session
        if session.series is not series:
            self.problems.append(
                Problem(
                    row.row,
                    "series_id",
                    f"session {row.session_id} belongs to series "
                    f"{session.series.external_id}, not {row.series_id}",
                )
            )
        old_status = session.status
        if any(getattr(session, k) != v for k, v in values.items()):
            for name, value in values.items():
                setattr(session, name, value)
            self.summary.updated["sessions"] += 1
        if session.status != old_status:
            session.status_changed_at = self.now
        return session


def _session_values(row: ScheduleRow) -> dict[str, Any]:
    return {
        "number": row.session_number,
        "starts_at": row.starts_at,
        "duration_minutes": row.duration_minutes,
        "practitioner": row.practitioner,
        "location": row.location,
        "status": row.status,
    }


def _assign(target: object, row: ScheduleRow, names: tuple[str, ...]) -> bool:
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
    """Upsert every row and re-plan its session, in one transaction: all or nothing."""
    summary = ImportSummary(rows=len(rows))
    db = store.sessions(settings.database_url)()
    try:
        upsert = _Upsert(db, settings, now, summary)
        touched = [upsert.session(row, upsert.series_for(row, upsert.patient(row))) for row in rows]
        if upsert.problems:
            raise ScheduleError(upsert.problems)
        db.flush()
        for session in _with_patients_sessions(db, touched, upsert.patients.values()):
            summary.messages_changed += plan_session(db, settings, session, now)
        if dry_run:
            db.rollback()
        else:
            db.commit()
    finally:
        db.rollback()
        db.close()
    return summary


def _with_patients_sessions(db: DB, touched: list[Session], patients: Any) -> list[Session]:
    """The imported sessions plus the patients' other sessions: contact changes reach them too."""
    by_id = {session.id: session for session in touched}
    patient_ids = [patient.id for patient in patients]
    others = db.scalars(
        select(Session).join(Series).where(Series.patient_id.in_(patient_ids))
    ).all()
    for session in others:
        by_id.setdefault(session.id, session)
    return [by_id[k] for k in sorted(by_id)]
