"""Pytest fixtures for the loopback Twilio and SMTP servers and settings pointing at them.

Load with `pytest_plugins = ["tests.fakes.fixtures"]` in the top-level conftest.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reminders.config import Settings
from tests.fakes.smtp import FakeSMTP
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

TWILIO_FROM = "+15877000000"
EMAIL_FROM = "reminders@clinic.example"


@pytest.fixture(scope="session")
def twilio_api_server() -> Iterator[FakeTwilio]:
    api = FakeTwilio().start()
    yield api
    api.stop()


@pytest.fixture
def twilio_api(twilio_api_server: FakeTwilio) -> FakeTwilio:
    """The shared fake Twilio, emptied for this test."""
    twilio_api_server.reset()
    return twilio_api_server


@pytest.fixture(scope="session")
def smtp_server_session() -> Iterator[FakeSMTP]:
    server = FakeSMTP().start()
    yield server
    server.stop()


@pytest.fixture
def smtp_server(smtp_server_session: FakeSMTP) -> FakeSMTP:
    """The shared fake SMTP server, emptied for this test."""
    smtp_server_session.reset()
    return smtp_server_session


def twilio_settings_for(api: FakeTwilio, tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": f"sqlite:///{tmp_path / 'reminders.db'}",
        "state_dir": tmp_path / "state",
        "outbox_dir": tmp_path / "outbox",
        "sms_backend": "twilio",
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_from": TWILIO_FROM,
        "twilio_api_url": api.url,
        "twilio_timeout": 1.0,
    }
    return Settings(**(values | overrides))  # type: ignore[arg-type]


def smtp_settings_for(server: FakeSMTP, tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": f"sqlite:///{tmp_path / 'reminders.db'}",
        "state_dir": tmp_path / "state",
        "outbox_dir": tmp_path / "outbox",
        "email_backend": "smtp",
        "smtp_host": server.host,
        "smtp_port": server.port,
        "smtp_starttls": False,
        "smtp_timeout": 1.0,
        "email_from": EMAIL_FROM,
    }
    return Settings(**(values | overrides))  # type: ignore[arg-type]


@pytest.fixture
def twilio_settings(tmp_path: Path, twilio_api: FakeTwilio) -> Settings:
    """Settings with sms_backend=twilio aimed at the fake (1 s timeout, no public_url)."""
    return twilio_settings_for(twilio_api, tmp_path)


@pytest.fixture
def smtp_settings(tmp_path: Path, smtp_server: FakeSMTP) -> Settings:
    """Settings with email_backend=smtp aimed at the fake (no STARTTLS, 1 s timeout)."""
    return smtp_settings_for(smtp_server, tmp_path)
