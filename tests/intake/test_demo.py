"""The demo clinic: within its first minute it shows a follow-up, a no-show, a drifting
patient, replies, and a landline's SMS refused and sent by email instead."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from reminders.cli import main
from reminders.config import get_settings
from reminders.intake.demo import next_opening
from reminders.staff.drift import drifting
from tests.harness import local

EDMONTON = ZoneInfo("America/Edmonton")


@pytest.mark.parametrize(
    ("now", "slot"),
    [
        ("2026-12-01 06:10", "2026-12-01 09:00"),
        ("2026-12-01 10:05", "2026-12-01 11:30"),
        ("2026-12-01 15:00", "2026-12-01 16:00"),
        ("2026-12-01 15:20", "2026-12-01 16:30"),
        ("2026-12-01 15:40", "2026-12-02 09:00"),
        ("2026-12-01 23:40", "2026-12-02 09:00"),
    ],
)
def test_the_next_session_is_in_opening_hours_within_a_day(now: str, slot: str) -> None:
    found = next_opening(local(now), EDMONTON)

    assert found.astimezone(EDMONTON).strftime("%Y-%m-%d %H:%M") == slot


@pytest.fixture
def demo_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("REMINDERS_DATABASE_URL", database_url)
    monkeypatch.setenv("REMINDERS_OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("REMINDERS_STATE_DIR", str(tmp_path / "state"))
    get_settings.cache_clear()
    return tmp_path


def kinds_sent(capsys: pytest.CaptureFixture[str]) -> list[tuple[str, str, str, str]]:
    capsys.readouterr()
    assert main(["messages", "--json"]) == 0
    return sorted(
        (m["kind"], m["channel"], m["status"], m["session_id"])
        for m in json.loads(capsys.readouterr().out)
        if m["status"] not in ("planned", "cancelled")
    )


def test_the_first_minute_of_the_demo_in_opening_hours_shows_each_feature(
    demo_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--now", "2026-12-01 13:10"]) == 0
    assert "demo console account: demo / " in capsys.readouterr().out
    assert main(["tick", "--now", "2026-12-01 13:10:40"]) == 0

    sent = kinds_sent(capsys)
    assert ("aftercare", "email", "sent", "DEMO-P1-S1-2") in sent
    assert ("missed_session", "email", "sent", "DEMO-P4-S1-2") in sent
    assert ("session_reminder", "sms", "failed", "DEMO-P2-S1-2") in sent  # the landline
    emilie = [s for s in sent if s[3] == "DEMO-P2-S1-2" and s[1] == "email"]
    assert len(emilie) == 2  # the email reminder, and the SMS's fallback copy
    now = datetime(2026, 12, 1, 20, 11, tzinfo=UTC)
    assert {r["patient_id"] for r in drifting(get_settings(), now)} == {"DEMO-P3", "DEMO-P4"}


def test_at_night_the_demo_still_sends_emails_at_once_and_holds_the_sms(
    demo_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--now", "2026-12-01 02:00"]) == 0
    assert main(["tick", "--now", "2026-12-01 02:00:40"]) == 0

    sent = kinds_sent(capsys)
    assert [s for s in sent if s[2] == "sent"] and all(s[1] == "email" for s in sent)


def test_running_the_demo_again_keeps_one_account_and_one_copy_of_each_reply(
    demo_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--now", "2026-12-01 13:10"]) == 0
    first = capsys.readouterr().out
    assert main(["demo", "--now", "2026-12-01 13:20"]) == 0
    again = capsys.readouterr().out

    login = [line for line in first.splitlines() if "console account" in line]
    assert login and login[0] in again  # the same name and password every run
    assert main(["users", "list"]) == 0
    assert capsys.readouterr().out.count("demo ") == 1
