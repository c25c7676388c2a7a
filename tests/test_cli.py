"""The `reminders` command as staff use it: import, tick, messages, preview, resend."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from sqlalchemy import func, select

from reminders import store
from reminders.cli import main
from reminders.config import Settings, get_settings
from reminders.models import Message, Patient, Session
from reminders.staff.accounts import AccountError, authenticate, session_user, start_session
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


def test_preview_shows_follow_ups_and_the_text_they_would_carry(run: Run, tmp_path: Path) -> None:
    done = row(status="completed", starts_at="2026-03-03T14:00-07:00")
    booked = row(session_id="S1-2", session_number=2, starts_at="2026-03-24T14:00-06:00")
    run("import", str(write_csv(tmp_path / "s.csv", [done, booked])), "--now", "2026-03-04T09:00")

    code, out, _ = run("preview", "--days", "30", "--now", "2026-03-04T09:00")
    _, as_json, _ = run("preview", "--days", "30", "--now", "2026-03-04T09:00", "--json")

    assert code == 0
    assert "aftercare" in out and "session_reminder" in out
    records = json.loads(as_json)
    [sms] = [r for r in records if r["channel"] == "sms" and r["kind"] == "session_reminder"]
    [aftercare] = [r for r in records if r["kind"] == "aftercare" and r["channel"] == "email"]
    assert f"       Subject: {aftercare['subject']}" in out
    assert f"       | {sms['body'].splitlines()[0]}" in out
    assert f"[{sms['segments']} segment(s)]" in out
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
    assert "STOP pour vous désabonner" in text
    assert sizes == f"[GSM-7  {sms_text.length(text)} chars  {sms_text.segments(text)} segments]"


def test_templates_preview_names_a_kind_that_does_not_exist(run: Run) -> None:
    code, out, err = run("templates", "preview", "birthday")

    assert (code, out) == (1, "")
    assert "templates preview: template birthday: unknown kind 'birthday'" in err


# What a script reads: --json where it needs values, --version, choices, secret files.


def test_version_names_the_installed_release(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--version"])

    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == "reminders 0.1.0"


def test_a_status_typo_is_refused_with_the_valid_choices(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["messages", "--status", "sentt"])

    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert "invalid choice: 'sentt'" in err and "'sent'" in err and "'unknown'" in err


def test_tick_json_gives_the_claims_and_outcomes(run: Run, tmp_path: Path) -> None:
    run("import", str(write_csv(tmp_path / "s.csv", [row()])), "--now", "2026-03-01T09:00")

    code, out, _ = run("tick", "--json", "--now", "2026-03-09T14:00")

    assert code == 0
    tick = json.loads(out)
    assert (tick["claimed"], tick["outcomes"], tick["unknown_found_sent"]) == (2, {"sent": 2}, 0)
    assert tick["now"] == "2026-03-09T20:00:00+00:00"


def test_resend_json_gives_the_new_message(run: Run, tmp_path: Path) -> None:
    run("import", str(write_csv(tmp_path / "s.csv", [row()])), "--now", "2026-03-01T09:00")
    args = ["resend", "S1-1", "--channel", "email", "--by", "dana", "--json"]

    code, out, err = run(*args, "--now", "2026-03-08T10:00")

    assert code == 0, err
    message = json.loads(out)
    assert (message["channel"], message["status"], message["recipient"]) == (
        "email",
        "sent",
        "avery@example.com",
    )
    assert isinstance(message["id"], int)


def test_users_list_json_gives_names_roles_and_state(run: Run) -> None:
    assert run("users", "list", "--json")[1].strip() == "[]"


def test_templates_check_json_gives_the_kinds_and_no_problems(run: Run) -> None:
    code, out, _ = run("templates", "check", "--json")

    report = json.loads(out)
    assert code == 0 and report["ok"] is True and report["problems"] == []
    assert {"session_reminder", "aftercare", "series_complete"} <= set(report["kinds"])


def test_a_secret_is_read_from_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "twilio_auth_token"
    secret.write_text("s3cret-token\n", encoding="utf-8")
    monkeypatch.setenv("REMINDERS_TWILIO_AUTH_TOKEN_FILE", str(secret))

    assert get_settings().twilio_auth_token == "s3cret-token"


def test_users_disable_enable_reset_password_and_unlock(
    run: Run, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(database_url=database_url)
    now = datetime.now(UTC)
    monkeypatch.setattr("sys.stdin", StringIO("first password\n"))
    assert run("users", "add", "dana")[0] == 0
    token = start_session(settings, authenticate(settings, "dana", "first password", "a", now), now)

    code, out, _ = run("users", "disable", "dana")
    assert code == 0 and "disabled" in out
    assert session_user(settings, token, now) is None
    assert "dana                     staff  disabled" in run("users", "list")[1]
    with pytest.raises(AccountError, match="disabled"):
        authenticate(settings, "dana", "first password", "a", now)

    assert run("users", "enable", "dana")[0] == 0
    monkeypatch.setattr("sys.stdin", StringIO("second password\n"))
    code, out, _ = run("users", "reset-password", "dana")
    assert code == 0 and "new password set for dana" in out
    assert authenticate(settings, "dana", "second password", "a", now).name == "dana"

    for _ in range(3):
        with pytest.raises(AccountError):
            authenticate(settings, "dana", "a wrong guess", "b", now)
    code, out, _ = run("users", "unlock", "dana")
    assert code == 0 and "(2 failed sign-in count(s) cleared)" in out


def test_users_commands_name_a_user_that_does_not_exist(run: Run) -> None:
    code, _, err = run("users", "disable", "nobody")

    assert code == 1 and "users disable refused: no user 'nobody'" in err
    assert run("users", "enable")[0] == 2  # no name given
