"""The `reminders` command as staff use it: import, tick, messages, preview, resend."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from reminders import store
from reminders.cli import main
from reminders.models import Message, Patient, Session
from reminders.wording import sms_text
from tests.harness import row, write_csv

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Run:
    monkeypatch.setenv("REMINDERS_DATABASE_URL", database_url)
    monkeypatch.setenv("REMINDERS_OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("REMINDERS_STATE_DIR", str(tmp_path / "state"))

    def run(*args: str) -> tuple[int, str, str]:
        from reminders.config import get_settings

        get_settings.cache_clear()
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def count(url: str, model: type) -> int:
    with store.transaction(url) as db:
        return db.scalar(select(func.count()).select_from(model)) or 0


def test_import_reports_every_bad_row_and_writes_nothing(
    run: Run, tmp_path: Path, database_url: str
) -> None:
    path = write_csv(
        tmp_path / "bad.csv",
        [
            row(),
            row(
                session_id="S1-2",
                session_number=2,
                phone="+1 403 555",
                starts_at="2026-03-31T14:00",
            ),
            row(session_id="S1-3", session_number=3, email="not-an-email", language="de"),
            row(session_id="S1-4", session_number=4, starts_at="2026-03-08T02:30"),
        ],
    )
    code, _, err = run("import", str(path))

    assert code == 1
    lines = err.strip().splitlines()
    assert any(line.startswith("row 2: phone:") for line in lines)
    assert any(line.startswith("row 3: email:") for line in lines)
    assert any(line.startswith("row 3: language:") for line in lines)
    assert any(line.startswith("row 4: starts_at:") and "does not exist" in line for line in lines)
    assert lines[-1].startswith("import failed:") and "nothing was written" in lines[-1]
    assert count(database_url, Patient) == 0
    assert count(database_url, Session) == 0


def test_dry_run_validates_and_writes_nothing(run: Run, tmp_path: Path, database_url: str) -> None:
    path = write_csv(tmp_path / "ok.csv", [row()])
    code, out, _ = run("import", str(path), "--dry-run", "--now", "2026-03-01T09:00")

    assert code == 0
    assert out.startswith("dry run, nothing written: 1 rows: created 1 patients")
    assert count(database_url, Session) == 0
    assert count(database_url, Message) == 0


def test_tick_sends_and_messages_json_lists_the_log(run: Run, tmp_path: Path) -> None:
    run("import", str(write_csv(tmp_path / "s.csv", [row()])), "--now", "2026-03-01T09:00")
    code, out, _ = run("tick", "--now", "2026-03-09T14:00")
    assert code == 0 and "2 claimed: 2 sent" in out

    code, out, _ = run("messages", "--json")
    records = json.loads(out)
    assert code == 0
    assert [(r["kind"], r["channel"], r["status"]) for r in records] == [
        ("session_reminder", "email", "sent"),
        ("session_reminder", "sms", "sent"),
    ]
    expected = {
        "id",
        "session_id",
        "patient_id",
        "series_id",
        "kind",
        "rule",
        "channel",
        "status",
        "due_at",
        "sent_at",
        "recipient",
        "subject",
        "body",
        "triggered_by",
    }
    assert expected <= set(records[0])
    assert (records[1]["session_id"], records[1]["patient_id"], records[1]["series_id"]) == (
        "S1-1",
        "P1",
        "S1",
    )
    assert records[1]["recipient"] == "+14035550101"


def test_preview_lists_what_would_go_out_and_sends_nothing(run: Run, tmp_path: Path) -> None:
    run("import", str(write_csv(tmp_path / "s.csv", [row()])), "--now", "2026-03-01T09:00")
    code, out, _ = run("preview", "--days", "3", "--now", "2026-03-05T09:00")

    assert code == 0
    assert out.splitlines()[0] == "1 message(s) due in the next 3 day(s); nothing is sent"
    assert "2026-03-07 14:00" in out and "avery@example.com" in out
    assert not (tmp_path / "outbox").exists()


def test_resend_sends_at_once_even_in_quiet_hours_and_records_who(run: Run, tmp_path: Path) -> None:
    run("import", str(write_csv(tmp_path / "s.csv", [row()])), "--now", "2026-03-01T09:00")
    code, out, err = run(
        "resend",
        "S1-1",
        "--channel",
        "sms",
        "--by",
        "dana",
        "--reason",
        "patient asked",
        "--now",
        "2026-03-08T23:30",
    )

    assert code == 0, err
    assert "sent" in out
    (manual,) = [r for r in json.loads(run("messages", "--json")[1]) if r["triggered_by"] == "dana"]
    assert (manual["channel"], manual["status"], manual["rule"]) == ("sms", "sent", None)
    assert len(list((tmp_path / "outbox").glob("*.json"))) == 1


def test_a_fourth_resend_in_a_day_is_refused(run: Run, tmp_path: Path) -> None:
    run("import", str(write_csv(tmp_path / "s.csv", [row()])), "--now", "2026-03-01T09:00")
    for hour in ("10", "11", "12"):
        assert (
            run(
                "resend",
                "S1-1",
                "--channel",
                "email",
                "--by",
                "dana",
                "--now",
                f"2026-03-02T{hour}:00",
            )[0]
            == 0
        )
    code, _, err = run(
        "resend", "S1-1", "--channel", "email", "--by", "dana", "--now", "2026-03-02T13:00"
    )

    assert code == 1
    assert "limit reached: at most 3 manual resends" in err
    assert (
        run("resend", "S1-1", "--channel", "email", "--by", "dana", "--now", "2026-03-03T10:01")[0]
        == 0
    )
    assert (
        run("resend", "S1-1", "--channel", "sms", "--by", "dana", "--now", "2026-03-02T13:00")[0]
        == 0
    )


def test_resend_is_refused_for_a_session_that_has_started(run: Run, tmp_path: Path) -> None:
    run("import", str(write_csv(tmp_path / "s.csv", [row()])), "--now", "2026-03-01T09:00")
    code, _, err = run(
        "resend", "S1-1", "--channel", "sms", "--by", "dana", "--now", "2026-03-10T14:05"
    )

    assert code == 1
    assert "has already started" in err


def test_a_real_backend_without_credentials_names_the_missing_variable(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REMINDERS_SMS_BACKEND", "twilio")
    code, _, err = run("tick")

    assert code == 2
    assert "REMINDERS_TWILIO_ACCOUNT_SID" in err and "REMINDERS_TWILIO_AUTH_TOKEN" in err


def test_templates_preview_prints_the_subject_the_text_and_the_html(run: Run) -> None:
    code, out, _ = run("templates", "preview", "aftercare", "--channel", "email")

    assert code == 0
    assert out.startswith("Subject: Calgary Integrative Medicine: after your session")
    head, html = out.split("\n" + "-" * 30 + " HTML\n")
    _subject, text = head.split("\n\n", 1)
    assert "Dear Marie," in text and "3 of 6" in text
    assert "Unsubscribe from these follow-up emails" in text
    assert html.lstrip().startswith("<!DOCTYPE html>")


def test_templates_preview_prints_an_sms_with_its_encoding_length_and_segments(run: Run) -> None:
    code, out, _ = run("templates", "preview", "missed_session", "--channel", "sms", "--lang", "fr")

    assert code == 0
    assert out.endswith("]\n\n")
    text, sizes = out.rstrip().rsplit("\n\n", 1)
    assert "Répondez STOP" in text
    assert sizes == f"[GSM-7  {sms_text.length(text)} chars  {sms_text.segments(text)} segments]"


def test_templates_preview_names_a_kind_that_does_not_exist(run: Run) -> None:
    code, out, err = run("templates", "preview", "birthday")

    assert (code, out) == (1, "")
    assert "templates preview: template birthday: unknown kind 'birthday'" in err
