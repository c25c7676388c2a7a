from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from icalendar import Calendar, Event

from reminders.config import Clinic, Settings
from reminders.models import Patient, Series, Session
from reminders.wording.calendar import session_ics
from reminders.wording.templating import TemplateProblem

NOW = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)


def make_session(
    starts_at: datetime,
    *,
    language: str = "en",
    location: str = "",
    minutes: int = 30,
    practitioner: str = "Dr. Chen",
) -> Session:
    patient = Patient(
        external_id="p-1", first_name="Marie", last_name="Tremblay", language=language
    )
    series = Series(
        external_id="s-1", treatment="Prolotherapy", planned_sessions=6, patient=patient
    )
    return Session(
        external_id="x-42",
        number=2,
        starts_at=starts_at,
        duration_minutes=minutes,
        practitioner=practitioner,
        location=location,
        series=series,
    )


def parse(settings: Settings, session: Session) -> tuple[Calendar, Event]:
    attachment = session_ics(settings, session, now=NOW)
    assert (attachment.filename, attachment.content_type) == ("session.ics", "text/calendar")
    calendar = Calendar.from_ical(attachment.data)
    [event] = calendar.walk("VEVENT")
    return calendar, event


@pytest.mark.parametrize(
    ("starts_at", "local", "offset_hours"),
    [
        (datetime(2026, 3, 3, 21, 0, tzinfo=UTC), time(14, 0), -7),
        # The day after spring forward: same UTC hour, an hour later on the wall clock.
        (datetime(2026, 3, 9, 21, 0, tzinfo=UTC), time(15, 0), -6),
        (datetime(2026, 8, 4, 15, 30, tzinfo=UTC), time(9, 30), -6),
        # The day after fall back.
        (datetime(2026, 11, 2, 16, 0, tzinfo=UTC), time(9, 0), -7),
    ],
)
def test_it_starts_the_event_at_clinic_wall_clock_time(
    starts_at: datetime, local: time, offset_hours: int
) -> None:
    calendar, event = parse(Settings(), make_session(starts_at))
    start = event.decoded("dtstart")
    assert event["dtstart"].params["TZID"] == "America/Edmonton"
    assert start.time() == local
    assert start.utcoffset() == timedelta(hours=offset_hours)
    assert start == starts_at
    assert event.decoded("dtend") - start == timedelta(minutes=30)
    assert [tz["TZID"] for tz in calendar.walk("VTIMEZONE")] == ["America/Edmonton"]


def test_an_event_across_the_dst_change_keeps_its_duration() -> None:
    # 01:30 MST on 2026-03-08 plus one hour is 03:30 MDT.
    starts_at = datetime(2026, 3, 8, 8, 30, tzinfo=UTC)
    _, event = parse(Settings(), make_session(starts_at, minutes=60))
    assert event.decoded("dtstart").time() == time(1, 30)
    assert event.decoded("dtend").time() == time(3, 30)
    # Python subtracts same-zone datetimes on the wall clock, so compare instants in UTC.
    assert event.decoded("dtend").astimezone(UTC) - starts_at == timedelta(hours=1)


def test_it_keeps_the_uid_stable_for_the_session() -> None:
    session = make_session(datetime(2026, 3, 3, 21, 0, tzinfo=UTC))
    _, first = parse(Settings(), session)
    session.starts_at = datetime(2026, 3, 10, 21, 0, tzinfo=UTC)
    _, moved = parse(Settings(), session)
    assert str(first["uid"]) == str(moved["uid"]) == "session-x-42@reminders"


def test_it_publishes_one_event_without_the_treatment_by_default() -> None:
    calendar, event = parse(Settings(), make_session(datetime(2026, 3, 3, 21, tzinfo=UTC)))
    assert str(calendar["method"]) == "PUBLISH"
    assert str(calendar["prodid"])
    assert str(event["summary"]) == "Calgary Integrative Medicine: session 2 of 6"
    assert "Prolotherapy" not in session_ics(Settings(), make_session(NOW), now=NOW).data.decode()
    assert str(event["location"]) == "Calgary, Alberta"
    assert event.decoded("dtstamp") == NOW


def test_it_names_the_treatment_and_speaks_french_when_asked() -> None:
    settings = Settings(clinic=Clinic(name_treatment_in_sms=True))
    session = make_session(datetime(2026, 3, 3, 21, tzinfo=UTC), language="fr", location="Salle 4")
    _, event = parse(settings, session)
    assert str(event["summary"]) == "Calgary Integrative Medicine : séance 2 sur 6 (Prolotherapy)"
    assert str(event["location"]) == "Salle 4"
    assert str(event["description"]).startswith("Rendez-vous avec le Dr Chen\nPour modifier")


@pytest.mark.parametrize(
    ("language", "practitioner", "description"),
    [
        ("en", "Dr. Chen", "Appointment with Dr. Chen\nTo reschedule, call (403) 202-7272."),
        ("en", "", "To reschedule, call (403) 202-7272."),
        (
            "fr",
            "Dr. Chen",
            "Rendez-vous avec le Dr Chen\nPour modifier ce rendez-vous : (403) 202-7272.",
        ),
        ("fr", "", "Pour modifier ce rendez-vous : (403) 202-7272."),
    ],
)
def test_the_description_names_the_practitioner_when_known_and_the_phone(
    language: str, practitioner: str, description: str
) -> None:
    session = make_session(NOW, language=language, practitioner=practitioner)
    _, event = parse(Settings(), session)
    assert str(event["description"]) == description


def test_a_clinic_template_folder_overrides_the_event_summary(tmp_path: Path) -> None:
    (tmp_path / "_calendar").mkdir()
    (tmp_path / "_calendar" / "summary.en.txt").write_text(
        "{{ clinic.name }} - visit {{ session.number }}/{{ session.of }}"
        "{% if session.practitioner %} with {{ session.practitioner }}{% endif %}\n"
    )
    _, event = parse(Settings(templates_dir=tmp_path), make_session(NOW))
    assert str(event["summary"]) == "Calgary Integrative Medicine - visit 2/6 with Dr. Chen"
    # What the clinic did not override still comes from the shipped folder.
    assert str(event["description"]).startswith("Appointment with Dr. Chen\nTo reschedule")
    _, french = parse(Settings(templates_dir=tmp_path), make_session(NOW, language="fr"))
    assert str(french["summary"]) == "Calgary Integrative Medicine : séance 2 sur 6"


def test_an_event_wording_that_does_not_render_raises_a_template_problem(tmp_path: Path) -> None:
    (tmp_path / "_calendar").mkdir()
    (tmp_path / "_calendar" / "description.en.txt").write_text("Call {{ clinic.fax }}")
    with pytest.raises(TemplateProblem, match=r"_calendar/description\.en\.txt"):
        session_ics(Settings(templates_dir=tmp_path), make_session(NOW), now=NOW)
