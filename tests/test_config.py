"""One settings object from the environment and an optional TOML file."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path
from typing import Any

import pytest

from reminders.config import ConfigError, Settings, get_settings, parse_offset


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-72h", timedelta(hours=-72)),
        ("-30m", timedelta(minutes=-30)),
        ("+1d", timedelta(days=1)),
        ("-1d12h", timedelta(days=-1, hours=-12)),
    ],
)
def test_it_reads_rule_offsets(text: str, expected: timedelta) -> None:
    assert parse_offset(text) == expected


@pytest.mark.parametrize("text", ["72h", "-72", "-3w", "", "- 2h"])
def test_it_refuses_unclear_offsets(text: str) -> None:
    with pytest.raises(ValueError, match="is not like"):
        parse_offset(text)


def test_it_reads_the_clinic_quiet_hours_and_rules_from_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "clinic.toml"
    config.write_text(
        """
sms_backend = "outbox"

[clinic]
name = "Calgary Integrative Medicine"
phone = "+14032027272"
timezone = "America/Edmonton"

[quiet_hours]
start = "21:30"
end = "08:30"

[[rules]]
name = "email-72h"
kind = "session_reminder"
channel = "email"
offset = "-72h"
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("REMINDERS_CONFIG", str(config))
    monkeypatch.setenv("REMINDERS_CLINIC__PHONE", "+14035550000")
    settings = Settings()

    assert settings.clinic.name == "Calgary Integrative Medicine"
    assert settings.clinic.phone == "+14035550000"  # the environment wins over the file
    assert (settings.quiet_hours.start, settings.quiet_hours.end) == (time(21, 30), time(8, 30))
    assert [(r.name, r.channel, r.offset) for r in settings.rules] == [
        ("email-72h", "email", timedelta(hours=-72))
    ]


def test_a_missing_config_file_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMINDERS_CONFIG", "/nonexistent/clinic.toml")
    with pytest.raises(ConfigError, match="REMINDERS_CONFIG: no such file"):
        Settings()


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        # As a config file gives it: a table, validated into the Clinic by the settings.
        clinic: Any = {"timezone": "Mars/Olympus"}
        Settings(clinic=clinic)


@pytest.mark.parametrize(
    ("values", "missing"),
    [
        ({"sms_backend": "twilio"}, "REMINDERS_TWILIO_ACCOUNT_SID"),
        (
            {"sms_backend": "twilio", "twilio_account_sid": "AC1", "twilio_auth_token": "t"},
            "REMINDERS_TWILIO_FROM or REMINDERS_TWILIO_MESSAGING_SERVICE_SID",
        ),
        ({"email_backend": "smtp"}, "REMINDERS_SMTP_HOST"),
        ({"email_backend": "smtp", "smtp_host": "mail"}, "REMINDERS_EMAIL_FROM"),
    ],
)
def test_a_real_backend_without_credentials_fails_naming_the_variable(
    values: dict[str, Any], missing: str
) -> None:
    with pytest.raises(ConfigError, match=missing):
        Settings(**values).check()


def test_the_embedded_default_needs_no_credentials() -> None:
    settings = Settings()
    settings.check()
    assert settings.embedded_broker
    assert settings.database_url.startswith("sqlite:///")


def test_a_bad_value_is_named_as_the_variable_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    from reminders.config import get_settings

    monkeypatch.setenv("REMINDERS_SMS_BACKEND", "pigeon")
    monkeypatch.setenv("REMINDERS_CLINIC__TIMEZONE", "Mars/Olympus")
    with pytest.raises(ConfigError) as raised:
        get_settings()

    message = str(raised.value)
    assert "REMINDERS_SMS_BACKEND: Input should be 'twilio' or 'outbox' (got 'pigeon')" in message
    assert "REMINDERS_CLINIC__TIMEZONE: Value error, unknown time zone 'Mars/Olympus'" in message


def test_the_readme_example_configuration_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    example = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    config = tmp_path / "clinic.toml"
    config.write_text(example, encoding="utf-8")
    monkeypatch.setenv("REMINDERS_CONFIG", str(config))
    settings = Settings()

    assert settings.sms_backend == "twilio"
    assert settings.followups.interval_for("prolotherapy") == timedelta(days=21)
    assert [rule.name for rule in settings.rules] == ["email-72h", "sms-24h"]


def test_a_misspelt_key_in_a_toml_section_is_refused_with_a_suggestion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "clinic.toml"
    config.write_text('[clinic]\nnmae = "Bow Valley Clinic"\n', encoding="utf-8")
    monkeypatch.setenv("REMINDERS_CONFIG", str(config))

    with pytest.raises(
        ConfigError, match=r"clinic\.nmae .*unknown setting \(did you mean name\?\)"
    ):
        get_settings()


def test_a_misspelt_variable_is_refused_with_a_suggestion(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMINDERS_CLINIC__TIMEZNE", "America/Regina")

    with pytest.raises(ConfigError, match=r"did you mean REMINDERS_CLINIC__TIMEZONE\?"):
        get_settings()


def test_variables_for_dict_settings_and_the_test_suite_are_not_typos(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REMINDERS_FOLLOWUPS__INTERVAL_DAYS__PROLOTHERAPY", "14")
    monkeypatch.setenv("REMINDERS_TEST_ANYTHING", "x")

    assert get_settings().followups.interval_days == {"prolotherapy": 14}


def test_a_toml_syntax_error_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "clinic.toml"
    config.write_text("[clinic\n", encoding="utf-8")
    monkeypatch.setenv("REMINDERS_CONFIG", str(config))

    with pytest.raises(ConfigError, match=r"clinic\.toml is not valid TOML: .*line 1"):
        get_settings()


@pytest.mark.parametrize("name", ["twilio_auth_token", "smtp_password", "database_url"])
def test_a_secret_comes_from_its_file_without_the_newline(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / name
    secret.write_text("sqlite:///x.db\n" if name == "database_url" else "s3cret\n")
    monkeypatch.setenv(f"REMINDERS_{name.upper()}_FILE", str(secret))

    assert getattr(get_settings(), name) == secret.read_text().strip()


def test_a_secret_set_twice_or_unreadable_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REMINDERS_SMTP_PASSWORD_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="REMINDERS_SMTP_PASSWORD_FILE: cannot read"):
        get_settings()

    get_settings.cache_clear()
    monkeypatch.setenv("REMINDERS_SMTP_PASSWORD", "inline")
    with pytest.raises(ConfigError, match=r"REMINDERS_SMTP_PASSWORD and .*_FILE are both set"):
        get_settings()
