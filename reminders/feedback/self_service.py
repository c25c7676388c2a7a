"""What a patient asks for by self-service link or SMS reply: confirm a session (applied at
once, as an SMS "C" is), or another time (a request for staff, with the days the patient
would take). Nothing here moves or books a session: staff do, in the clinic's system.

Staff read and close the requests in `staff.requests`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session as DB
from sqlalchemy.orm import joinedload, selectinload

from reminders import store
from reminders.config import Settings
from reminders.journal import record_request
from reminders.models import (
    UPCOMING,
    InboundMessage,
    Patient,
    PatientRequest,
    Series,
    Session,
    SessionStatus,
)
from reminders.planning.standing import SeriesStatus, assess
from reminders.wording.templating import patient_language

RequestKind = Literal["confirm", "reschedule"]
# What the page offers: confirm or move a session to come, ask for the next one, or nothing
# (the series is complete: the clinic calls).
Mode = Literal["upcoming", "book_next", "complete"]
OPEN, HANDLED = "open", "handled"
MAX_NOTE = 500


class RequestRefused(Exception):
    """The patient's choice cannot be taken as sent: the message says why, in English, and
    `code` names it for the page to say in the patient's language."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Appointment:
    """What a self-service link shows: the session it is about now, and the days offered.

    The link names the session of its email; when that one is past or cancelled and the
    series has another booked, the page is about that one (the patient's next visit).
    """

    language: str
    first_name: str
    mode: Mode
    session_id: str | None  # the external id of the session shown, None for book_next
    starts_at: datetime | None
    practitioner: str
    location: str
    confirmed: bool
    offered: tuple[date, ...]
    # An open request for another time: the days asked and when.
    requested_days: tuple[date, ...] = ()
    requested_at: datetime | None = None


def appointment(settings: Settings, link_session: str, now: datetime) -> Appointment | None:
    """The page behind a link to `link_session` (an external id); None: no such session."""
    with store.transaction(settings.database_url) as db:
        session = _session(db, link_session)
        return None if session is None else _appointment(db, settings, session, now)


def confirm_by_link(
    settings: Settings, link_session: str, shown: str, now: datetime
) -> Appointment | None:
    """Confirm the session the page showed (`shown`: `<external id>@<start ISO>`).

    Raises RequestRefused when it is no longer that session at that time (moved since the
    page loaded) or not one that can be confirmed; None when there is no such session.
    """
    with store.transaction(settings.database_url) as db:
        session = _session(db, link_session)
        if session is None:
            return None
        target = _target(settings, session, now)
        if target is None or not is_upcoming(target, now):
            raise RequestRefused("not_upcoming", "there is no session to come to confirm")
        if shown_as(target) != shown:
            raise RequestRefused("changed", "the session changed since the page was loaded")
        confirm(db, target, now, source="link")
        return _appointment(db, settings, session, now)


def request_by_link(
    settings: Settings,
    link_session: str,
    shown: str,
    days: Sequence[str],
    note: str,
    now: datetime,
) -> Appointment | None:
    """Ask for another time (or the next session) on the days chosen from those offered."""
    with store.transaction(settings.database_url) as db:
        session = _session(db, link_session)
        if session is None:
            return None
        target = _target(settings, session, now)
        if (shown_as(target) if target else "") != shown:
            raise RequestRefused("changed", "the session changed since the page was loaded")
        series = session.series
        if assess(settings, series, now).status == SeriesStatus.COMPLETE and target is None:
            raise RequestRefused("complete", "the series is complete")
        chosen = _chosen_days(days, offered_days(settings, series, now))
        if not chosen and not note.strip():
            raise RequestRefused("no_days", "choose at least one day, or write a note")
        ask_another_time(
            db,
            patient=series.patient,
            session=target,
            now=now,
            source="link",
            days=chosen,
            note=note,
        )
        return _appointment(db, settings, session, now)


def shown_as(session: Session) -> str:
    """What the form echoes back, so a session moved meanwhile is not confirmed unseen."""
    return f"{session.external_id}@{session.starts_at.isoformat()}"


def _session(db: DB, external_id: str) -> Session | None:
    return db.scalars(
        select(Session)
        .where(Session.external_id == external_id)
        .options(
            joinedload(Session.series).options(
                joinedload(Series.patient), selectinload(Series.sessions)
            )
        )
    ).one_or_none()


def _target(settings: Settings, session: Session, now: datetime) -> Session | None:
    if is_upcoming(session, now):
        return session
    return assess(settings, session.series, now).next_booked


def _appointment(db: DB, settings: Settings, session: Session, now: datetime) -> Appointment:
    series = session.series
    patient = series.patient
    target = _target(settings, session, now)
    complete = assess(settings, series, now).status == SeriesStatus.COMPLETE
    mode: Mode = "upcoming" if target else ("complete" if complete else "book_next")
    waiting = open_request_for(db, patient, target, "reschedule")
    return Appointment(
        language=patient_language(patient),
        first_name=patient.first_name,
        mode=mode,
        session_id=target.external_id if target else None,
        starts_at=target.starts_at if target else None,
        practitioner=target.practitioner if target else "",
        location=target.location if target else "",
        confirmed=bool(target and target.status == SessionStatus.CONFIRMED),
        offered=tuple(offered_days(settings, series, now)) if mode != "complete" else (),
        requested_days=_days(waiting.preferred_days) if waiting else (),
        requested_at=waiting.received_at if waiting else None,
    )


def _chosen_days(sent: Sequence[str], offered: Sequence[date]) -> list[date]:
    allowed = {day.isoformat(): day for day in offered}
    unknown = [text for text in sent if text not in allowed]
    if unknown:
        raise RequestRefused("bad_day", f"not a day on offer: {unknown[0][:20]!r}")
    return [allowed[text] for text in dict.fromkeys(sent)]


def _days(text: str) -> tuple[date, ...]:
    return tuple(date.fromisoformat(part) for part in text.split(",") if part)


def is_upcoming(session: Session, now: datetime) -> bool:
    return session.status in UPCOMING and session.starts_at > now


def confirm(db: DB, session: Session, now: datetime, *, source: str) -> bool:
    """Confirm an upcoming session (kept for the record, nothing for staff); False when the
    session is past, cancelled or done, and nothing changed."""
    if not is_upcoming(session, now):
        return False
    if session.status != SessionStatus.CONFIRMED:
        session.status, session.status_changed_at = SessionStatus.CONFIRMED, now
    add_request(
        db,
        patient=session.series.patient,
        session=session,
        kind="confirm",
        source=source,
        now=now,
        settled=True,
    )
    return True


def ask_another_time(
    db: DB,
    *,
    patient: Patient,
    session: Session | None,
    now: datetime,
    source: str,
    days: Sequence[date] = (),
    note: str = "",
    inbound: InboundMessage | None = None,
) -> PatientRequest:
    """A request for staff to find another time (`session` None: book the next one).

    Asked again while the first is open (a second click, another "R"), the one request
    takes the latest days and note: staff see one item per session, with the newest wish.
    """
    note = note.strip()[:MAX_NOTE]
    earlier = open_request_for(db, patient, session, "reschedule")
    if earlier is None:
        return add_request(
            db,
            patient=patient,
            session=session,
            kind="reschedule",
            source=source,
            now=now,
            preferred_days=days,
            note=note,
            inbound=inbound,
        )
    if days or note:
        earlier.preferred_days, earlier.note = _days_text(days), note
    earlier.received_at = now
    record_request(db, earlier, OPEN, f"asked again by {source}", now, actor="patient")
    return earlier


def open_request_for(
    db: DB, patient: Patient, session: Session | None, kind: RequestKind
) -> PatientRequest | None:
    where_session = (
        PatientRequest.session_id.is_(None)
        if session is None
        else PatientRequest.session_id == session.id
    )
    return db.scalars(
        select(PatientRequest)
        .where(
            PatientRequest.patient_id == patient.id,
            PatientRequest.kind == kind,
            PatientRequest.status == OPEN,
            where_session,
        )
        .order_by(PatientRequest.id)
        .limit(1)
    ).first()


def add_request(
    db: DB,
    *,
    patient: Patient,
    session: Session | None,
    kind: RequestKind,
    source: str,
    now: datetime,
    preferred_days: Sequence[date] = (),
    note: str = "",
    inbound: InboundMessage | None = None,
    settled: bool = False,
) -> PatientRequest:
    """Store what the patient asked. `settled`: nothing left for staff (a confirmation the
    service applied itself), kept for the record only."""
    row = PatientRequest(
        patient=patient,
        session=session,
        kind=kind,
        source=source,
        inbound=inbound,
        preferred_days=_days_text(preferred_days),
        note=note,
        status=OPEN,
        received_at=now,
    )
    db.add(row)
    record_request(db, row, OPEN, f"{kind} asked by {source}", now, actor="patient")
    if settled:
        row.handled_at, row.handled_by = now, "patient"
        record_request(db, row, HANDLED, "applied at once", now, actor="system")
    db.flush()
    return row


def offered_days(settings: Settings, series: Series, now: datetime) -> list[date]:
    """The days, in clinic time, that keep the series inside its target window.

    The window is the target interval after the last completed session, give or take the
    tolerance; from tomorrow at the earliest. Before any completed session, or once the
    window has passed, the sooner the better: the next days, as many as the window holds.
    """
    zone = settings.clinic.zone
    tomorrow = now.astimezone(zone).date() + timedelta(days=1)
    tolerance = timedelta(days=settings.followups.tolerance_days)
    recommended = assess(settings, series, now).recommended_next
    if recommended is None:
        start, end = tomorrow, tomorrow + 2 * tolerance
    else:
        due = recommended.astimezone(zone).date()
        start, end = max(due - tolerance, tomorrow), due + tolerance
        if end < start:
            end = start + 2 * tolerance
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def _days_text(days: Sequence[date]) -> str:
    return ",".join(day.isoformat() for day in dict.fromkeys(days))
