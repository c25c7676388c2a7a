"""The preview: every message waiting to go out, follow-ups too, with the text it would
carry, as the sender would render and re-check it; nothing is sent or changed."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from reminders.config import QuietHours, Settings
from reminders.staff.message_log import preview
from tests.harness import Clinic, local, row


@pytest.fixture
def clinic(settings: Settings, tmp_path: Path) -> Clinic:
    clinic = Clinic(settings, tmp_path)
    done = row(status="completed", starts_at="2026-03-03T14:00-07:00")
    booked = row(session_id="S1-2", session_number=2, starts_at="2026-03-24T14:00-06:00")
    clinic.import_rows([done, booked], local("2026-03-04 09:00"))
    return clinic


def test_it_lists_follow_ups_and_reminders_with_their_text(clinic: Clinic) -> None:
    before = clinic.log()

    records = preview(clinic.settings, local("2026-03-04 09:00"), 30)

    kinds = {(r["kind"], r["channel"]) for r in records}
    assert ("aftercare", "email") in kinds  # a follow-up of the completed session
    assert ("session_reminder", "sms") in kinds and ("session_reminder", "email") in kinds
    sms = next(r for r in records if r["kind"] == "session_reminder" and r["channel"] == "sms")
    assert "Tuesday" in sms["body"] or "Tue" in sms["body"]
    assert sms["segments"] >= 1 and sms["subject"] is None
    email = next(r for r in records if r["kind"] == "aftercare" and r["channel"] == "email")
    assert email["subject"] and email["body"]
    assert all(r["would_send"] for r in records)
    assert [r["due_at"] for r in records] == sorted(r["due_at"] for r in records)
    assert clinic.log() == before
    assert not clinic.settings.outbox_dir.exists()


def test_a_message_that_would_not_go_out_then_says_why(clinic: Clinic) -> None:
    # The 24-hour SMS of S1-2 falls at 14:00, inside these quiet hours: it would wait.
    quiet = QuietHours(start=time(13, 0), end=time(15, 0))
    settings = clinic.settings.model_copy(update={"quiet_hours": quiet})

    records = preview(settings, local("2026-03-04 09:00"), 30)

    [sms] = [r for r in records if r["session_id"] == "S1-2" and r["channel"] == "sms"]
    assert sms["would_send"] is False
    assert sms["reason"] == "would not go out: quiet hours: deferred to 15:00"
    assert sms["body"]  # the text it will carry once the quiet hours end


def test_a_template_that_does_not_render_is_shown_not_raised(
    clinic: Clinic, tmp_path: Path
) -> None:
    folder = tmp_path / "clinic-templates" / "aftercare"
    folder.mkdir(parents=True)
    (folder / "email.en.subject.txt").write_text("{{ no_such_thing }}")
    settings = clinic.settings.model_copy(update={"templates_dir": folder.parent})

    records = preview(settings, local("2026-03-04 09:00"), 30)

    [aftercare] = [r for r in records if r["kind"] == "aftercare" and r["channel"] == "email"]
    assert aftercare["body"] is None and aftercare["would_send"] is False
    assert "no_such_thing" in aftercare["reason"]
