"""A clinic in a test: write a schedule, import it, tick the clock, read the log and outbox."""

from __future__ import annotations

import csv
import email
import email.policy
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from reminders.config import Settings
from reminders.intake.importer import ImportSummary, import_schedule
from reminders.intake.schedule_file import COLUMNS, read_schedule
from reminders.sending.dispatch import Report, dispatch_due
from reminders.staff.message_log import messages

EDMONTON = ZoneInfo("America/Edmonton")


def local(text: str) -> datetime:
    """A clinic wall-clock time as an aware UTC instant: local('2026-03-03 14:00')."""
    return datetime.fromisoformat(text).replace(tzinfo=EDMONTON).astimezone(UTC)


def reminders_only(settings: Settings) -> Settings:
    """The same clinic with follow-ups off: for tests about session reminders alone."""
    followups = settings.followups.model_copy(update={"enabled": False})
    return settings.model_copy(update={"followups": followups})


def row(**overrides: Any) -> dict[str, Any]:
    """One session row of a prolotherapy series; override what the test is about."""
    base: dict[str, Any] = {
        "patient_id": "P1",
        "first_name": "Avery",
        "last_name": "Nguyen",
        "phone": "+14035550101",
        "email": "avery@example.com",
        "language": "en",
        "sms_opt_out": "false",
        "email_opt_out": "false",
        "series_id": "S1",
        "treatment": "prolotherapy",
        "planned_sessions": 6,
        "session_id": "S1-1",
        "session_number": 1,
        "starts_at": "2026-03-10T14:00:00-06:00",
        "duration_minutes": 30,
        "practitioner": "Dr. Chen",
        "location": "Room 2",
        "status": "booked",
    }
    base.update(overrides)
    return base


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    columns = [c for c in COLUMNS if any(c in r for r in rows)]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


@dataclass
class Clinic:
    settings: Settings
    folder: Path

    def import_rows(self, rows: list[dict[str, Any]], now: datetime) -> ImportSummary:
        path = write_csv(self.folder / "schedule.csv", rows)
        parsed = read_schedule(path, self.settings.clinic.zone)
        return import_schedule(self.settings, parsed, now)

    def tick(self, now: datetime) -> Report:
        return dispatch_due(self.settings, now)

    def log(self, **filters: Any) -> list[dict[str, Any]]:
        return messages(self.settings, **filters)

    def statuses(self, **filters: Any) -> list[tuple[str, str, str]]:
        return [(m["rule"] or "manual", m["channel"], m["status"]) for m in self.log(**filters)]

    def outbox(self) -> list[dict[str, Any]]:
        """Every file the outbox channels wrote, parsed: SMS as dicts, email headers and text."""
        sent = []
        folder = self.settings.outbox_dir
        for path in sorted(folder.iterdir()) if folder.exists() else []:
            if path.suffix == ".json":
                sent.append({"channel": "sms", **json.loads(path.read_text())})
            elif path.suffix == ".eml":
                parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                text = parsed.get_body(preferencelist=("plain",))
                sent.append(
                    {
                        "channel": "email",
                        "to": str(parsed["To"]),
                        "subject": str(parsed["Subject"]),
                        "body": text.get_content() if text is not None else "",
                    }
                )
        return sent
