"""The .ics attachment of a session reminder: one event in the clinic's own time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event

from reminders.channels.base import Attachment
from reminders.config import Settings
from reminders.models import Session
from reminders.wording.templating import (
    display_phone,
    patient_language,
    progress_text,
    total_sessions,
)

PRODID = "-//clinic-reminders//session reminder//EN"
_SESSION = {"en": "session", "fr": "séance"}
_WITH = {"en": "With {practitioner}", "fr": "Avec {practitioner}"}
_CALL = {"en": "To reschedule, call {phone}.", "fr": "Pour modifier ce rendez-vous : {phone}."}
# The VTIMEZONE only needs the rules around the event, not 1970-2038.
_ZONE_MARGIN = timedelta(days=366)


def session_ics(settings: Settings, session: Session, *, now: datetime | None = None) -> Attachment:
    """A VCALENDAR (METHOD:PUBLISH) with one VEVENT whose UID is stable for the session."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = _event(settings, session, now or datetime.now(UTC))
    calendar.add_component(event)
    start = session.starts_at.date()
    calendar.add_missing_timezones(first_date=start - _ZONE_MARGIN, last_date=start + _ZONE_MARGIN)
    return Attachment(filename="session.ics", content_type="text/calendar", data=calendar.to_ical())


def _event(settings: Settings, session: Session, now: datetime) -> Event:
    zone = settings.clinic.zone
    # DTEND from the UTC instant: a session spanning a DST change still lasts its duration.
    end = session.starts_at + timedelta(minutes=session.duration_minutes)
    event = Event()
    event.add("uid", f"session-{session.external_id}@reminders")
    event.add("dtstamp", now.astimezone(UTC))
    event.add("dtstart", session.starts_at.astimezone(zone))
    event.add("dtend", end.astimezone(zone))
    event.add("summary", _summary(settings, session))
    event.add("location", session.location or settings.clinic.address)
    event.add("description", _description(settings, session))
    event.add("status", "CONFIRMED")
    return event


def _summary(settings: Settings, session: Session) -> str:
    language = patient_language(session.series.patient)
    progress = progress_text(language, session.number, total_sessions(session))
    summary = f"{settings.clinic.name}: {_SESSION[language]} {progress}"
    if settings.clinic.name_treatment_in_sms:
        summary += f" ({session.series.treatment})"
    return summary


def _description(settings: Settings, session: Session) -> str:
    language = patient_language(session.series.patient)
    lines = (
        [_WITH[language].format(practitioner=session.practitioner)] if session.practitioner else []
    )
    lines.append(_CALL[language].format(phone=display_phone(settings.clinic.phone)))
    return "\n".join(lines)
