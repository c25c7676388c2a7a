"""`reminders doctor` names each problem with its fix and exits 1; any other command turns a
configuration or connection problem into one line, never a traceback."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from reminders.cli import main
from reminders.config import get_settings
from reminders.ops import heartbeat
from tests.fakes.smtp import FakeSMTP
from tests.fakes.twilio_api import FakeTwilio
from tests.sending.test_exactly_once import provider_env


def doctor(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    status = main(["doctor"])
    return status, capsys.readouterr().out


def use(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def test_a_misspelt_key_in_the_toml_file_is_refused_with_a_suggestion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "reminders.toml"
    config.write_text('[clinic]\nnmae = "Bow Valley Clinic"\n', encoding="utf-8")
    monkeypatch.setenv("REMINDERS_CONFIG", str(config))

    status, out = doctor(capsys)

    assert status == 1
    assert "clinic.nmae (REMINDERS_CLINIC__NMAE): unknown setting (did you mean name?)" in out
    assert "fix: " in out


def test_a_misspelt_variable_is_refused_with_a_suggestion(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REMINDERS_TWILIO_AUTH_TOKN", "x")

    status, out = doctor(capsys)

    assert status == 1
    assert (
        "REMINDERS_TWILIO_AUTH_TOKN is not a setting (did you mean REMINDERS_TWILIO_AUTH_TOKEN?)"
    ) in out


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("[clinic\nname = 1\n", "is not valid TOML"),
        ('[clinic]\ntimezone = "Mars/Olympus"\n', "unknown time zone 'Mars/Olympus'"),
    ],
)
def test_every_command_turns_a_bad_configuration_into_one_line(
    content: str,
    said: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "reminders.toml"
    config.write_text(content, encoding="utf-8")
    monkeypatch.setenv("REMINDERS_CONFIG", str(config))

    status = main(["messages"])

    err = capsys.readouterr().err
    assert status == 2
    assert said in err and err.startswith("configuration error: ")
    assert "Traceback" not in err


def test_every_command_says_in_one_line_that_the_database_is_unreachable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "postgresql+psycopg://clinic:s3cret@127.0.0.1:1/reminders?connect_timeout=2"
    monkeypatch.setenv("REMINDERS_DATABASE_URL", url)

    status = main(["messages", "--json"])

    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("database unreachable (REMINDERS_DATABASE_URL): OperationalError")
    assert len(err.strip().splitlines()) == 1 and "s3cret" not in err


def test_the_doctor_names_each_broken_part_with_its_fix(
    tmp_path: Path,
    twilio_api: FakeTwilio,
    smtp_server: FakeSMTP,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = provider_env(f"sqlite:///{tmp_path / 'reminders.db'}", twilio_api, smtp_server, tmp_path)
    use(monkeypatch, env)
    monkeypatch.setenv("REMINDERS_TWILIO_AUTH_TOKEN", "not-the-token")
    monkeypatch.setenv("REMINDERS_SMTP_PORT", "1")
    monkeypatch.setenv("REMINDERS_BROKER_URL", "redis://:pw@127.0.0.1:1/0")
    monkeypatch.setenv("REMINDERS_CLINIC__NAME", "Bow Valley Clinic")
    main(["messages"])  # the store is migrated on first use
    capsys.readouterr()

    status, out = doctor(capsys)

    failing = {line.split(":")[0].removeprefix("FAIL  ") for line in out.splitlines()}
    assert status == 1
    assert {"broker", "worker", "beat", "twilio", "smtp"} <= failing, out
    assert "ok    database: reachable, schema up to date" in out
    assert "FAIL  twilio: Twilio refused: HTTP 401, code 20003" in out
    assert "fix: check REMINDERS_TWILIO_ACCOUNT_SID and REMINDERS_TWILIO_AUTH_TOKEN" in out
    assert "ok    templates: 5 kinds render" in out
    assert "not-the-token" not in out and ":pw@" not in out
    assert out.strip().endswith("5 problems")


def test_the_doctor_finds_the_database_empty_or_unreachable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REMINDERS_DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    status, out = doctor(capsys)
    assert status == 1
    assert "FAIL  database: empty: no tables yet" in out
    assert "FAIL  worker: not checked" in out

    monkeypatch.setenv("REMINDERS_DATABASE_URL", "postgresql+psycopg://u:pw@127.0.0.1:1/x")
    get_settings.cache_clear()
    status, out = doctor(capsys)
    assert status == 1
    assert "FAIL  database: unreachable: OperationalError" in out


def test_the_doctor_is_content_with_the_embedded_setup_when_its_parts_are_alive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The embedded broker carries no ping: the worker's heartbeat stands in for it."""
    monkeypatch.setenv("REMINDERS_DATABASE_URL", f"sqlite:///{tmp_path / 'reminders.db'}")
    monkeypatch.setenv("REMINDERS_STATE_DIR", str(tmp_path / "state"))
    (tmp_path / "state" / "broker").mkdir(parents=True)
    main(["messages"])
    now = datetime.now(UTC)
    heartbeat.record(get_settings(), "worker:celery@clinic", now)
    heartbeat.record(get_settings(), heartbeat.BEAT, now)
    capsys.readouterr()

    status, out = doctor(capsys)

    assert status == 0, out
    assert "ok    worker: seen: celery@clinic" in out
    assert out.strip().endswith("all good")
