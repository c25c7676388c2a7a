"""A demo clinic that shows each feature within its first minute, at clinic-like hours.

Four prolotherapy patients, their sessions placed around `now` so that something is due at
once on every path (an outage's catch-up sends what is overdue, so an email due this
morning goes out now; SMS wait out the quiet hours like any other):

- Avery had a session two days ago: the after-care email (a follow-up) goes out, and the
  email reminder of the next one; Avery then texts "C" to confirm it (a reply).
- Émilie's next session is today or tomorrow, and her number is the outbox's landline:
  the SMS reminder is refused as Twilio refuses a landline (21614), and goes by email.
- Jordan stopped after three sessions six weeks ago with nothing booked: drifting, on
  the call list.
- Sam did not come yesterday (a no-show): the missed-session email goes out, Sam is on
  the call list, and texts back asking for another time (a reply for staff).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from reminders.channels.outbox import LANDLINE
from reminders.config import Settings
from reminders.intake.importer import ImportSummary, import_schedule
from reminders.intake.schedule_file import ScheduleRow

PLANNED = 6
INTERVAL = timedelta(weeks=3)
OPENS, CLOSES = time(9, 0), time(16, 30)


@dataclass(frozen=True)
class DemoPatient:
    patient_id: str
    first_name: str
    last_name: str
    phone: str
    email: str
    language: str


AVERY = DemoPatient("DEMO-P1", "Avery", "Nguyen", "+14035550101", "avery@example.com", "en")
EMILIE = DemoPatient("DEMO-P2", "Émilie", "Tremblay", LANDLINE, "emilie@example.com", "fr")
JORDAN = DemoPatient("DEMO-P3", "Jordan", "Smith", "+14035550103", "jordan@example.com", "en")
SAM = DemoPatient("DEMO-P4", "Sam", "Okafor", "+14035550104", "sam@example.com", "en")

# Texts the demo patients send back, as Twilio would post them: (id, from, body).
REPLIES = [
    ("DEMO-SMS-AVERY-1", AVERY.phone, "C"),
    ("DEMO-SMS-SAM-1", SAM.phone, "Sorry I missed it, can I come one day next week instead?"),
]


def _at(day: date, clock: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, clock, tzinfo=zone)


def next_opening(now: datetime, zone: ZoneInfo) -> datetime:
    """A half-hour slot in opening hours within the next day, at least an hour away."""
    local = now.astimezone(zone)
    slot = (local + timedelta(hours=1, minutes=29)).replace(second=0, microsecond=0)
    slot -= timedelta(minutes=slot.minute % 30)
    if slot.time() < OPENS and slot.date() == local.date():
        return _at(local.date(), OPENS, zone)
    if slot.time() > CLOSES or slot.date() != local.date():
        return _at(local.date() + timedelta(days=1), OPENS, zone)
    return slot


def demo_rows(settings: Settings, now: datetime) -> list[ScheduleRow]:
    zone = settings.clinic.zone
    today = now.astimezone(zone).date()

    def day(offset: int, clock: time) -> datetime:
        return _at(today + timedelta(days=offset), clock, zone)

    rows: list[ScheduleRow] = []
    two_days_ago = day(-2, time(10, 30))
    _series(rows, AVERY, [(two_days_ago - INTERVAL, "completed"), (two_days_ago, "completed")])
    _booked_from(rows, AVERY, day(2, time(10, 30)))
    soon = next_opening(now, zone)
    _series(rows, EMILIE, [(soon - INTERVAL, "completed")])
    _booked_from(rows, EMILIE, soon)
    last = day(-42, time(11, 0))
    _series(rows, JORDAN, [(last - 2 * INTERVAL, "completed"), (last - INTERVAL, "completed")])
    _series(rows, JORDAN, [(last, "completed")])
    yesterday = day(-1, time(15, 30))
    _series(rows, SAM, [(yesterday - INTERVAL, "completed"), (yesterday, "no_show")])
    return rows


def _booked_from(rows: list[ScheduleRow], patient: DemoPatient, first: datetime) -> None:
    done = sum(1 for r in rows if r.patient_id == patient.patient_id)
    left = PLANNED - done
    _series(rows, patient, [(first + n * INTERVAL, "booked") for n in range(left)])


def _series(
    rows: list[ScheduleRow], patient: DemoPatient, sessions: list[tuple[datetime, str]]
) -> None:
    for starts_at, status in sessions:
        number = 1 + sum(1 for r in rows if r.patient_id == patient.patient_id)
        rows.append(
            ScheduleRow(
                row=len(rows) + 1,
                patient_id=patient.patient_id,
                first_name=patient.first_name,
                last_name=patient.last_name,
                phone=patient.phone,
                email=patient.email,
                language=patient.language,
                sms_opt_out=False,
                email_opt_out=False,
                series_id=f"{patient.patient_id}-S1",
                treatment="prolotherapy",
                planned_sessions=PLANNED,
                session_id=f"{patient.patient_id}-S1-{number}",
                session_number=number,
                starts_at=starts_at.astimezone(UTC),
                duration_minutes=30,
                practitioner="Dr. Chen",
                location="Room 2",
                status=status,
            )
        )


def load_demo(settings: Settings, now: datetime) -> ImportSummary:
    return import_schedule(settings, demo_rows(settings, now), now)
