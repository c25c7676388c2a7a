"""Screenshots of the front desk's console for the README, from a seeded clinic.

    .venv/bin/python scripts/console_screenshots.py docs/

Seeds a clinic in a temporary folder (outbox channels, SQLite), runs the reminders and
feedback the way the service would (dispatch passes, patient replies, a landline failure),
serves the console on a fixed clock and saves docs/day-view.png, docs/patient-timeline.png
and docs/call-list.png at 1366x800 in Debian's chromium.
"""

from __future__ import annotations

import csv
import shutil
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import uvicorn
from playwright.sync_api import sync_playwright
from sqlalchemy import select

from reminders import store
from reminders.config import Settings
from reminders.feedback.replies import receive
from reminders.intake.importer import import_schedule
from reminders.intake.schedule_file import COLUMNS, read_schedule
from reminders.journal import record
from reminders.models import Message, Patient, Series, Session
from reminders.sending.dispatch import dispatch_due
from reminders.staff.accounts import add_user
from reminders.staff.worklist import record_outcome
from reminders.web.app import create_app

ZONE = ZoneInfo("America/Edmonton")
PASSWORD = "front desk demo password"
LANDLINE = (
    "permanent error (21614): Twilio HTTP 400 error 21614: 'To' number is not a valid mobile number"
)
# id, first, last, phone, practitioner, time on the day, sessions done before
DAY_PATIENTS = [
    ("C-1041", "Avery", "Nguyen", "+14035550101", "Dr. Chen", "09:00", 2),
    ("C-1042", "Émilie", "Tremblay", "+14035550102", "Dr. Roy", "09:30", 1),
    ("C-1043", "Jordan", "Blackwater", "+14035550103", "Dr. Chen", "10:15", 3),
    ("C-1044", "Mei", "Lindqvist", "+14035550104", "Dr. Roy", "11:00", 0),
    ("C-1045", "Samir", "Haddad", "+14035550105", "Dr. Chen", "13:30", 4),
    ("C-1046", "Grace", "O'Connell", "+14035550106", "Dr. Roy", "14:15", 2),
    ("C-1047", "Luis", "Fernández", "+14035550107", "Dr. Chen", "15:00", 1),
]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZONE).astimezone(UTC)


def schedule() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for pid, first, last, phone, doctor, clock, done in DAY_PATIENTS:
        for number in range(1, done + 2):
            day = datetime(2026, 3, 10) - timedelta(weeks=3 * (done + 1 - number))
            rows.append(
                _row(
                    pid, first, last, phone, doctor, number, f"{day.date()}T{clock}", number <= done
                )
            )
    # Two who stopped coming: one overdue, one who missed a session last week.
    rows.append(
        _row("C-0977", "Sam", "Okafor", "+14035550109", "Dr. Roy", 1, "2026-01-20T10:00", True)
    )
    rows.append(
        _row("C-0982", "Nora", "Kaplan", "+14035550110", "Dr. Chen", 1, "2026-02-10T09:00", True)
    )
    no_show = _row(
        "C-0982", "Nora", "Kaplan", "+14035550110", "Dr. Chen", 2, "2026-03-03T09:00", False
    )
    rows.append({**no_show, "status": "no_show"})
    return rows


def _row(
    pid: str, first: str, last: str, phone: str, doctor: str, number: int, start: str, done: bool
) -> dict[str, object]:
    return {
        "patient_id": pid,
        "first_name": first,
        "last_name": last,
        "phone": phone,
        "email": f"{first.lower()}.{pid.lower()}@example.com".replace("é", "e").replace("'", ""),
        "language": "fr" if first == "Émilie" else "en",
        "series_id": f"{pid}-S1",
        "treatment": "prolotherapy",
        "planned_sessions": 6,
        "session_id": f"{pid}-{number}",
        "session_number": number,
        "starts_at": datetime.fromisoformat(start).replace(tzinfo=ZONE).isoformat(),
        "duration_minutes": 30,
        "practitioner": doctor,
        "location": "Room 2" if doctor == "Dr. Chen" else "Room 4",
        "status": "completed" if done else "booked",
    }


def seed(settings: Settings, folder: Path) -> None:
    path = folder / "schedule.csv"
    rows = schedule()
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=[c for c in COLUMNS if c in rows[0]])
        writer.writeheader()
        writer.writerows(rows)
    import_schedule(settings, read_schedule(path, ZONE), at("2026-03-01 09:00"))
    for moment in ("2026-03-04 10:00", "2026-03-07 10:00", "2026-03-09 09:00", "2026-03-09 15:00"):
        dispatch_due(settings, at(moment))
    receive(settings, "SM-demo-1", "+14035550101", "C", at("2026-03-09 09:12"))
    receive(
        settings,
        "SM-demo-2",
        "+14035550102",
        "Je peux venir à 10h plutôt ?",
        at("2026-03-09 09:40"),
    )
    receive(settings, "SM-demo-3", "+14035550106", "C", at("2026-03-09 10:05"))
    receive(settings, "SM-demo-4", "+14035550105", "R", at("2026-03-09 11:30"))
    with store.transaction(settings.database_url) as db:
        landline = db.scalars(
            select(Message)
            .join(Message.session)
            .join(Session.series)
            .join(Series.patient)
            .where(Patient.external_id == "C-1047", Message.channel == "sms")
            .where(Message.status == "sent")
        ).first()
        if landline is not None:
            record(db, landline, "failed", LANDLINE, at("2026-03-09 09:00"), actor="twilio")
    record_outcome(
        settings,
        "series:C-0977-S1",
        "overdue:C-0977-1:completed",
        "left_message",
        "voicemail; will try again after lunch",
        "dana",
        at("2026-03-09 16:10"),
    )


def serve(settings: Settings, now: datetime) -> tuple[uvicorn.Server, str]:
    config = uvicorn.Config(
        create_app(settings, clock=lambda: now), host="127.0.0.1", port=8765, log_level="warning"
    )
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, "http://127.0.0.1:8765"


def main(out: Path) -> int:
    folder = Path(tempfile.mkdtemp(prefix="console-shots-"))
    settings = Settings(
        database_url=f"sqlite:///{folder / 'clinic.db'}",
        outbox_dir=folder / "outbox",
        state_dir=folder / "state",
        secret_key="screenshots-" + "x" * 32,
    )
    seed(settings, folder)
    now = at("2026-03-10 08:40")
    add_user(settings, "dana", "staff", PASSWORD, now)
    server, base = serve(settings, now)
    binary = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=binary, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_context(viewport={"width": 1366, "height": 800}).new_page()
        page.goto(base + "/login")
        page.get_by_label("Name").fill("dana")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        for path, name in (
            ("/day", "day-view.png"),
            ("/patients/C-1042", "patient-timeline.png"),
            ("/attention", "call-list.png"),
        ):
            page.goto(base + path)
            if name == "patient-timeline.png":
                page.locator("#timeline").scroll_into_view_if_needed()
                page.evaluate("document.getElementById('timeline').scrollIntoView()")
            page.screenshot(path=str(out / name))
            print(f"wrote {out / name}")
        browser.close()
    server.should_exit = True
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs")))
