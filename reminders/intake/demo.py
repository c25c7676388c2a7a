"""A demo clinic whose prolotherapy series have reminders falling due within the first minute."""

from __future__ import annotations

from datetime import datetime, timedelta

from reminders.config import Settings
from reminders.intake.importer import ImportSummary, import_schedule
from reminders.intake.schedule_file import ScheduleRow

PATIENTS = [
    # id, first, last, phone, email, language, sessions done, seconds past the rule's due time
    ("DEMO-P1", "Avery", "Nguyen", "+14035550101", "avery@example.com", "en", 2, 20),
    ("DEMO-P2", "Émilie", "Tremblay", "+14035550102", "emilie@example.com", "fr", 1, 40),
    ("DEMO-P3", "Jordan", "Smith", "+14035550103", "jordan@example.com", "en", 4, 50),
]
PLANNED = 6
INTERVAL = timedelta(weeks=3)


def demo_rows(settings: Settings, now: datetime) -> list[ScheduleRow]:
    """Each patient's next session sits just past one reminder's lead time from now."""
    leads = {rule.channel: -rule.offset for rule in settings.rules if rule.before_session}
    lead_cycle = [leads.get("sms", timedelta(hours=24)), leads.get("email", timedelta(hours=72))]
    now = now.replace(microsecond=0)
    rows: list[ScheduleRow] = []
    for index, (pid, first, last, phone, email, lang, done, delay) in enumerate(PATIENTS):
        next_start = now + lead_cycle[index % 2] + timedelta(seconds=delay)
        for number in range(1, PLANNED + 1):
            starts_at = next_start + (number - done - 1) * INTERVAL
            rows.append(
                ScheduleRow(
                    row=len(rows) + 1,
                    patient_id=pid,
                    first_name=first,
                    last_name=last,
                    phone=phone,
                    email=email,
                    language=lang,
                    sms_opt_out=False,
                    email_opt_out=False,
                    series_id=f"{pid}-S1",
                    treatment="prolotherapy",
                    planned_sessions=PLANNED,
                    session_id=f"{pid}-S1-{number}",
                    session_number=number,
                    starts_at=starts_at,
                    duration_minutes=30,
                    practitioner="Dr. Chen",
                    location="Room 2",
                    status="completed" if number <= done else "booked",
                )
            )
    return rows


def load_demo(settings: Settings, now: datetime) -> ImportSummary:
    return import_schedule(settings, demo_rows(settings, now), now)
