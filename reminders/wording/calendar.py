"""The .ics attachment of a session reminder: one event in the clinic's own time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event

from reminders.channels.base import Attachment
from reminders.config import Settings
from reminders.models import Session
from reminders.wording.templating import patient_language, render_part, session_context

PRODID = "-//clinic-reminders//session reminder//EN"
# The event's wording: `templates/_calendar/<part>.<language>.txt`, which a clinic can override.
EVENT_FOLDER = "_calendar"
# The VTIMEZONE only needs the rules around the event, not 1970-2038.
_ZONE_MARGIN = timedelta(days=366)


def session_ics(settings: Settings, session: Session, *, now: datetime | None = None) -> Attachment:
    """A VCALENDAR (METHOD:PUBLISH) with one VEVENT whose UID is stable for the session.

    Raises `TemplateProblem` when the event's summary or description does not render.
    """
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
    language = patient_language(session.series.patient)
    context = event_context(settings, session, now)
    event.add("summary", _wording(settings, f"summary.{language}.txt", context))
    event.add("location", session.location or settings.clinic.address)
    event.add("description", _wording(settings, f"description.{language}.txt", context))
    event.add("status", "CONFIRMED")
    return event


def event_context(settings: Settings, session: Session, now: datetime) -> dict[str, object]:
    """What the event's templates get: the variables of the message templates, at `now`."""
    return session_context(settings, session, now=now)


def _wording(settings: Settings, part: str, context: dict[str, object]) -> str:
    return render_part(settings, f"{EVENT_FOLDER}/{part}", context).strip()
